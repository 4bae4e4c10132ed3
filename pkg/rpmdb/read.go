package rpmdb

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/keel-linux/keel/pkg/rpm"
)

// Read returns the headers of the packages in the rpmdb.sqlite at path,
// opened read-only, and immutable when set (images are read-only; a
// database with an un-checkpointed WAL is read from a private copy without
// it, so sqlite can replay the WAL). Imported keys (gpg-pubkey) are headers
// too and are left out.
func Read(ctx context.Context, path string, immutable bool) ([]*rpm.Header, error) {
	dsn := "file:" + path
	if immutable {
		dsn += "?mode=ro&immutable=1"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT hnum, blob FROM Packages ORDER BY hnum")
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer rows.Close()
	var out []*rpm.Header
	for rows.Next() {
		var hnum int64
		var blob []byte
		if err := rows.Scan(&hnum, &blob); err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		h, err := rpm.ParseHeaderBlob(blob)
		if err != nil {
			return nil, fmt.Errorf("%s: package #%d: %w", path, hnum, err)
		}
		if h.Name() != "gpg-pubkey" {
			out = append(out, h)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}
