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
// answered only if a dry run allows it.
func (s *Server) authzenSearchSubject(c echo.Context) error {
	caller, req, err := s.searchBegin(c)
	if err != nil {
		return err
	}
	switch sub := req.Subject; {
	case sub == nil:
		return invalid("subject", "a subject with its type is required")
	case sub.Type != authzenSubjectType:
		return invalid("subject.type", "must be %q: Kavach judges agents", authzenSubjectType)
	case sub.ID != "":
		return invalid("subject.id", "must be absent: the search answers the ids")
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
	after, limit, err := searchPage(req.Page)
	if err != nil {
		return err
	}
	probe := api.AuthorizeRequest{Action: req.Action.Name, Resource: resource, Arguments: args, DryRun: true}
	ctx := rctx(c)

	// An agent asking with its own token can find only itself.
	if caller.token != "" {
		a, err := s.k.Agents().ValidateToken(ctx, caller.token)
		if err != nil {
			return err
		}
		hits := []api.AuthZENSubject{}
		if a.ID > after {
			h, err := s.subjectTry(c, caller, a.ID, req.Context, probe)
			if err != nil {
				return err
			}
			if h != nil {
				hits = append(hits, *h)
			}
		}
		return replyJSON(c, api.AuthZENSubjectSearchResponse{Page: api.AuthZENPageResult{Count: len(hits)}, Results: hits})
	}

	hits := []api.AuthZENSubject{}
	cursor := ""
	if after != "" {
		cursor = store.EncodeCursor(after)
	}
	for {
		list, err := s.k.Agents().List(ctx, api.ListAgentsRequest{Status: agent.StatusActive, Limit: subjectListPage, Cursor: cursor})
		if err != nil {
			return err
		}
		for i, a := range list.Agents {
			h, err := s.subjectTry(c, caller, a.ID, req.Context, probe)
			if err != nil {
				return err
			}
			if h == nil {
				continue
			}
			hits = append(hits, *h)
			if len(hits) == limit {
				next := ""
				if i+1 < len(list.Agents) || list.NextCursor != "" {
					next = pageToken(a.ID)
				}
				return replyJSON(c, api.AuthZENSubjectSearchResponse{Page: api.AuthZENPageResult{NextToken: next, Count: len(hits)}, Results: hits})
			}
		}
		if list.NextCursor == "" {
			return replyJSON(c, api.AuthZENSubjectSearchResponse{Page: api.AuthZENPageResult{Count: len(hits)}, Results: hits})
		}
		cursor = list.NextCursor
	}
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
