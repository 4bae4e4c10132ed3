package main

// Reporting "ready" to Azure's WireServer the way Azure's agents do: GET
// the goal state, then POST a health report with state Ready for the goal
// state's incarnation, container and role instance.

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// WireServer is Azure's fixed host address for the guest agent protocol.
const WireServer = "168.63.129.16"

const wireVersion = "2012-11-30"

// GoalState is the part of the WireServer's goal state a Ready report needs.
type GoalState struct {
	Incarnation string
	ContainerID string
	InstanceID  string
}

type goalStateXML struct {
	XMLName     xml.Name `xml:"GoalState"`
	Incarnation string   `xml:"Incarnation"`
	Container   struct {
		ContainerID string `xml:"ContainerId"`
		Roles       []struct {
			InstanceID string `xml:"InstanceId"`
		} `xml:"RoleInstanceList>RoleInstance"`
	} `xml:"Container"`
}

// ParseGoalState reads the WireServer's goal state document.
func ParseGoalState(b []byte) (GoalState, error) {
	if len(b) > maxXML {
		return GoalState{}, fmt.Errorf("goal state: larger than 1 MiB")
	}
	var g goalStateXML
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	if err := d.Decode(&g); err != nil {
		return GoalState{}, fmt.Errorf("goal state: not valid XML: %v", err)
	}
	gs := GoalState{Incarnation: strings.TrimSpace(g.Incarnation), ContainerID: strings.TrimSpace(g.Container.ContainerID)}
	if len(g.Container.Roles) != 1 {
		return GoalState{}, fmt.Errorf("goal state: want one RoleInstance, found %d", len(g.Container.Roles))
	}
	gs.InstanceID = strings.TrimSpace(g.Container.Roles[0].InstanceID)
	for _, f := range []struct{ name, v string }{{"Incarnation", gs.Incarnation}, {"ContainerId", gs.ContainerID}, {"InstanceId", gs.InstanceID}} {
		if f.v == "" || len(f.v) > 256 || strings.ContainsAny(f.v, "<>&\"'") {
			return GoalState{}, fmt.Errorf("goal state: %s missing or not plain text", f.name)
		}
	}
	return gs, nil
}

// healthReport is the Ready report's body.
func healthReport(gs GoalState) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<Health xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">`)
	b.WriteString("<GoalStateIncarnation>")
	xml.EscapeText(&b, []byte(gs.Incarnation))
	b.WriteString("</GoalStateIncarnation><Container><ContainerId>")
	xml.EscapeText(&b, []byte(gs.ContainerID))
	b.WriteString("</ContainerId><RoleInstanceList><Role><InstanceId>")
	xml.EscapeText(&b, []byte(gs.InstanceID))
	b.WriteString("</InstanceId><Health><State>Ready</State></Health></Role></RoleInstanceList></Container></Health>")
	return b.Bytes()
}

// ReportReady fetches the goal state from the WireServer at addr (host or
// host:port) and reports Ready, retrying while the network comes up.
func ReportReady(ctx context.Context, addr string) (GoalState, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + addr + "/machine/"
	var (
		gs  GoalState
		err error
	)
	for try := 0; try < 5; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return gs, ctx.Err()
			case <-time.After(time.Duration(try) * time.Second):
			}
		}
		var body []byte
		if body, err = wireRequest(ctx, client, "GET", base+"?comp=goalstate", nil); err != nil {
			continue
		}
		if gs, err = ParseGoalState(body); err != nil {
			return gs, err // a bad answer is not retried
		}
		if _, err = wireRequest(ctx, client, "POST", base+"?comp=health", healthReport(gs)); err == nil {
			return gs, nil
		}
	}
	return gs, err
}

func wireRequest(ctx context.Context, c *http.Client, method, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("x-ms-agent-name", "keel-provision")
	req.Header.Set("x-ms-version", wireVersion)
	if body != nil {
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxXML+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: HTTP %d", method, url, resp.StatusCode)
	}
	return b, nil
}
