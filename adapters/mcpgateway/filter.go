package mcpgateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/mcpauth"
)

// listable are the dry-run answers that keep a tool in a tools/list answer: the agent may
// call it, or could with other arguments, a human's approval, or after waiting. Every other
// code (no permission, wrong place or time, a custom deny, an error) hides it.
var listable = map[api.DecisionCode]bool{
	api.Allowed: true, api.ArgumentNotAllowed: true, api.ApprovalRequired: true,
	api.ApprovalDenied: true, api.RateLimited: true,
}

// filterList narrows the answer to a tools/list request, plain JSON or an event stream,
// to the tools the agent may call. Checks are dry runs: listing takes no rate slot and
// opens no approval request.
func (gw *Gateway) filterList(resp *http.Response) error {
	ctx := resp.Request.Context()
	l, ok := ctx.Value(listKey{}).(*listing)
	if !ok || resp.StatusCode != http.StatusOK {
		return nil
	}
	claims, ok := mcpauth.ClaimsFrom(ctx)
	if !ok {
		return errors.New("mcpgateway: a tools/list answer for an unauthenticated request")
	}
	media, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	body, err := io.ReadAll(io.LimitReader(resp.Body, gw.cfg.MaxListBytes+1))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if int64(len(body)) > gw.cfg.MaxListBytes {
		return fmt.Errorf("mcpgateway: the tools/list answer is larger than %d bytes", gw.cfg.MaxListBytes)
	}
	f := &filter{gw: gw, ctx: ctx, agentID: claims.AgentID, l: l}
	switch media {
	case "application/json":
		body, err = f.message(body)
	case "text/event-stream":
		body, err = f.stream(body)
	}
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

type filter struct {
	gw      *Gateway
	ctx     context.Context
	agentID string
	l       *listing
}

// stream filters each event's data; everything else in the stream passes unchanged.
func (f *filter) stream(body []byte) ([]byte, error) {
	var out bytes.Buffer
	var data, other []string // the current event's data lines and its other fields
	flush := func() error {
		for _, line := range other {
			out.WriteString(line + "\n")
		}
		if len(data) > 0 {
			b, err := f.message([]byte(strings.Join(data, "\n")))
			if err != nil {
				return err
			}
			for _, line := range strings.Split(string(b), "\n") {
				out.WriteString("data: " + line + "\n")
			}
		}
		out.WriteString("\n")
		data, other = nil, nil
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), len(body)+1)
	pending := false
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			if pending {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			pending = false
			continue
		}
		pending = true
		if v, ok := strings.CutPrefix(line, "data:"); ok {
			data = append(data, strings.TrimPrefix(v, " "))
		} else {
			other = append(other, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if pending {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), nil
}

// message filters a JSON-RPC answer (or batch of answers) to a noted tools/list request;
// any other message passes unchanged.
func (f *filter) message(b []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(trimmed, &batch) != nil {
			return b, nil
		}
		for i, m := range batch {
			out, err := f.message(m)
			if err != nil {
				return nil, err
			}
			batch[i] = out
		}
		return json.Marshal(batch)
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(trimmed, &m) != nil || m["result"] == nil || !f.l.ids[string(bytes.TrimSpace(m["id"]))] {
		return b, nil
	}
	var result map[string]json.RawMessage
	if json.Unmarshal(m["result"], &result) != nil || result["tools"] == nil {
		return b, nil
	}
	var tools []json.RawMessage
	if err := json.Unmarshal(result["tools"], &tools); err != nil {
		return nil, fmt.Errorf("mcpgateway: tools/list answer: %w", err)
	}
	kept := make([]json.RawMessage, 0, len(tools))
	for _, t := range tools {
		var tool struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(t, &tool) == nil && f.visible(tool.Name) {
			kept = append(kept, t)
		}
	}
	var err error
	if result["tools"], err = json.Marshal(kept); err != nil {
		return nil, err
	}
	if m["result"], err = json.Marshal(result); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// visible asks Kavach, without side effects, whether the agent may call the tool.
func (f *filter) visible(tool string) bool {
	if tool == "" || strings.ContainsAny(tool, ":* \t\r\n") {
		return false
	}
	ctx := f.ctx
	if f.gw.cfg.Actor != nil {
		ctx = api.WithActor(ctx, *f.gw.cfg.Actor)
	}
	d, err := f.gw.cfg.Kavach.Authorize(ctx, f.agentID, api.AuthorizeRequest{
		Action: mcpauth.Action, Resource: "mcp:" + f.gw.cfg.Server + ":" + tool, DryRun: true,
	}, api.CallContext{IP: f.l.ip, UserAgent: f.l.userAgent})
	if err != nil {
		f.gw.cfg.Logger.ErrorContext(ctx, "mcpgateway: a tools/list check failed; the tool is hidden", "tool", tool, "error", err)
		return false
	}
	return listable[d.Code]
}
