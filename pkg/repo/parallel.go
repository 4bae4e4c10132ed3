package repo

import (
	"context"
	"runtime"
	"sync"
)

// forEach runs f(0..n-1) on up to GOMAXPROCS goroutines and returns the
// error of the lowest index that failed (so errors do not depend on
// scheduling); once ctx is done, remaining items fail with its error.
func forEach(ctx context.Context, n int, f func(i int) error) error {
	if n == 1 { // the usual update: no goroutine to hand over to and wait for
		if err := ctx.Err(); err != nil {
			return err
		}
		return f(0)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := ctx.Err(); err != nil {
				errs[i] = err
				return
			}
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
