package service

import (
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store"
)

// authzenSearchSubjectPath is the AuthZEN subject search.
const authzenSearchSubjectPath = "/access/v1/search/subject"

// subjectListPage is how many agents are listed at a time while searching.
const subjectListPage = 200

// authzenSearchSubject answers the agents, among those the caller can see, that may take
// action on resource. Agents come in listing order (their ids, oldest first); an agent is
// tried only if one of its effective grants names the action on the resource, and
// answered only if a dry run allows it. A subject.id is ignored (§8.4.1: it SHOULD be
// omitted and MUST be ignored); subjects of a type other than "agent" are none.
func (s *Server) authzenSearchSubject(c echo.Context) error {
	caller, req, digest, err := s.searchBegin(c)
	if err != nil {
		return err
	}
	switch sub := req.Subject; {
	case sub == nil:
		return invalid("subject", "a subject with its type is required")
	case sub.Type == "":
		return invalid("subject.type", "is required")
	}
	if req.Action == nil || req.Action.Name == "" {
		return invalid("action.name", "an action name is required")
	}
	args, err := authzenArguments(req.Action.Properties, "action.properties.arguments")
	if err != nil {
		return err
	}
	resource, err := authzenResource(req.Resource, "resource")
	if err != nil {
		return err
	}
	after, limit, err := searchPage(req.Page, digest)
	if err != nil {
		return err
	}
	w := subjectWalk{s: s, c: c, caller: caller, ctx: req.Context, limit: limit, hits: []api.AuthZENSubject{},
		probe: api.AuthorizeRequest{Action: req.Action.Name, Resource: resource, Arguments: args, DryRun: true}}
	next, err := w.run(req.Subject.Type == authzenSubjectType, digest, after)
	if err != nil {
		return err
	}
	return replyJSON(c, api.AuthZENSubjectSearchResponse{Page: api.AuthZENPageResult{NextToken: next, Count: len(w.hits)}, Results: w.hits})
}

// subjectWalk is one page of a subject search: the agents tried in order until limit are
// answered and one more is allowed, or none is left.
type subjectWalk struct {
	s      *Server
	c      echo.Context
	caller authzenCaller
	ctx    *api.AuthZENContext
	probe  api.AuthorizeRequest
	limit  int
	hits   []api.AuthZENSubject
}

// run walks the agents after the id after and returns the next page's token, "" when no
// agent is left to answer. Subjects of another type than agents are none; an agent asking
// with its own token can find only itself.
func (w *subjectWalk) run(agents bool, digest, after string) (string, error) {
	ctx := rctx(w.c)
	if w.caller.token != "" {
		a, err := w.s.k.Agents().ValidateToken(ctx, w.caller.token)
		if err != nil || !agents || a.ID <= after {
			return "", err
		}
		return w.try(a.ID, digest, after)
	}
	if !agents {
		return "", nil
	}
	cursor := ""
	if after != "" {
		cursor = store.EncodeCursor(after)
	}
	for {
		list, err := w.s.k.Agents().List(ctx, api.ListAgentsRequest{Status: agent.StatusActive, Limit: subjectListPage, Cursor: cursor})
		if err != nil {
			return "", err
		}
		for _, a := range list.Agents {
			if next, err := w.try(a.ID, digest, after); next != "" || err != nil {
				return next, err
			}
		}
		if list.NextCursor == "" {
			return "", nil
		}
		cursor = list.NextCursor
	}
}

// try answers agent id if it is allowed and the page has room; if it is allowed and the page
// is full, it returns the token that resumes at it.
func (w *subjectWalk) try(id, digest, after string) (string, error) {
	h, err := w.s.subjectTry(w.c, w.caller, id, w.ctx, w.probe)
	if err != nil || h == nil {
		return "", err
	}
	if len(w.hits) == w.limit {
		last := after
		if len(w.hits) > 0 {
			last = w.hits[len(w.hits)-1].ID
		}
		return pageToken(digest, last), nil
	}
	w.hits = append(w.hits, *h)
	return "", nil
}

// subjectTry answers agent id as a subject if one of its effective grants names the call
// and the call's dry run allows it; nil otherwise.
func (s *Server) subjectTry(c echo.Context, caller authzenCaller, id string, ctx *api.AuthZENContext, probe api.AuthorizeRequest) (*api.AuthZENSubject, error) {
	caps, err := s.searchCapabilities(c, caller, id)
	if err != nil {
		return nil, err
	}
	named := false
	for _, cp := range caps {
		if agent.MatchResource(cp.Resource, probe.Resource) && (slices.Contains(cp.Actions, probe.Action) || slices.Contains(cp.Actions, "*")) {
			named = true
			break
		}
	}
	if !named {
		return nil, nil
	}
	h, err := s.searchTry(c, caller, id, ctx, searchCandidate{key: id, probe: probe}, caps)
	if err != nil || h == nil {
		return nil, err
	}
	return &api.AuthZENSubject{Type: authzenSubjectType, ID: id, Properties: h.properties}, nil
}
