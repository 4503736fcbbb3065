package service

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// The AuthZEN 1.0 search routes for one subject (docs/authzen.md#search): the actions an
// agent may take on a resource, and the resources of a type it may act on with an action.
// Candidates come from the agent's effective grants (Agents().Capabilities); a pattern is
// answered as its pattern, never expanded. Every answered item first passes a dry-run
// decision through the facade — for a pattern, on a representative concrete resource or
// action — so custom denies narrow the answer.

// AuthZEN search routes.
const (
	authzenSearchActionPath   = "/access/v1/search/action"
	authzenSearchResourcePath = "/access/v1/search/resource"
)

// searchPlaceholder stands for a "*" when a pattern is tried: each "*" segment of a
// resource pattern, and the action "*", are replaced by it for the dry run.
const searchPlaceholder = "_"

func (s *Server) registerAuthZENSearchRoutes() {
	s.add(echo.POST, authzenSearchActionPath, s.authzenSearchAction, echoRequestID)
	s.add(echo.POST, authzenSearchResourcePath, s.authzenSearchResource, echoRequestID)
	s.add(echo.POST, authzenSearchSubjectPath, s.authzenSearchSubject, echoRequestID)
}

// searchCandidate is one possible answer: its paging key (the action name, or the
// resource id), the dry run that must allow it, and whether it is a pattern.
type searchCandidate struct {
	key     string
	probe   api.AuthorizeRequest
	pattern bool
}

// searchHit is a candidate the dry run allowed, with what to say about it.
type searchHit struct {
	key        string
	properties map[string]any
}

// authzenSearchAction answers the actions the subject may take on the resource.
func (s *Server) authzenSearchAction(c echo.Context) error {
	caller, req, digest, err := s.searchBegin(c)
	if err != nil {
		return err
	}
	subject, err := searchSubjectID(req.Subject)
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
	caps, err := s.searchCapabilities(c, caller, subject)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, cp := range caps {
		if agent.MatchResource(cp.Resource, resource) {
			for _, a := range cp.Actions {
				names[a] = true
			}
		}
	}
	cands := make([]searchCandidate, 0, len(names))
	for _, name := range sortedKeys(names) {
		probe := name
		if name == "*" {
			probe = searchPlaceholder
		}
		cands = append(cands, searchCandidate{key: name, pattern: name == "*",
			probe: api.AuthorizeRequest{Action: probe, Resource: resource, DryRun: true}})
	}
	hits, next, err := s.searchWalk(c, caller, subject, req.Context, cands, caps, digest, after, limit)
	if err != nil {
		return err
	}
	out := api.AuthZENActionSearchResponse{Page: api.AuthZENPageResult{NextToken: next, Count: len(hits)}, Results: make([]api.AuthZENAction, len(hits))}
	for i, h := range hits {
		out.Results[i] = api.AuthZENAction{Name: h.key, Properties: h.properties}
	}
	return replyJSON(c, out)
}

// authzenSearchResource answers the resources of resource.type the subject may act on with
// action.name: one result per distinct id, a pattern id as its pattern. A resource.id is
// ignored: the specification (§8.5.1) says it SHOULD be omitted and MUST be ignored.
func (s *Server) authzenSearchResource(c echo.Context) error {
	caller, req, digest, err := s.searchBegin(c)
	if err != nil {
		return err
	}
	subject, err := searchSubjectID(req.Subject)
	if err != nil {
		return err
	}
	if req.Action == nil || req.Action.Name == "" {
		return invalid("action.name", "an action name is required")
	}
	args, err := authzenArguments(req.Action.Properties, "action.properties.arguments")
	if err != nil {
		return err
	}
	r := req.Resource
	switch {
	case r == nil:
		return invalid("resource", "a resource with its type is required")
	case r.Type == "":
		return invalid("resource.type", "is required")
	}
	if err := agent.ValidateResource(r.Type); err != nil {
		return invalid("resource.type", "%v", err)
	}
	after, limit, err := searchPage(req.Page, digest)
	if err != nil {
		return err
	}
	caps, err := s.searchCapabilities(c, caller, subject)
	if err != nil {
		return err
	}
	ids := map[string]bool{}
	for _, cp := range caps {
		if !slices.Contains(cp.Actions, req.Action.Name) && !slices.Contains(cp.Actions, "*") {
			continue
		}
		if id, ok := idUnderType(cp.Resource, r.Type); ok {
			ids[id] = true
		}
	}
	cands := make([]searchCandidate, 0, len(ids))
	for _, id := range sortedKeys(ids) {
		probe := r.Type + ":" + representative(id)
		if agent.ValidateResource(probe) != nil {
			continue // too long or too deep to be a resource: nothing of it can be called
		}
		cands = append(cands, searchCandidate{key: id, pattern: strings.Contains(":"+id+":", ":*:"),
			probe: api.AuthorizeRequest{Action: req.Action.Name, Resource: probe, Arguments: args, DryRun: true}})
	}
	hits, next, err := s.searchWalk(c, caller, subject, req.Context, cands, caps, digest, after, limit)
	if err != nil {
		return err
	}
	out := api.AuthZENResourceSearchResponse{Page: api.AuthZENPageResult{NextToken: next, Count: len(hits)}, Results: make([]api.AuthZENResource, len(hits))}
	for i, h := range hits {
		out.Results[i] = api.AuthZENResource{Type: r.Type, ID: h.key, Properties: h.properties}
	}
	return replyJSON(c, out)
}

// searchBegin authenticates the caller and reads the body, with the request's digest that
// binds a page token to it. A caller that could not be authenticated for a failure of ours
// is a 500: a search cannot fail closed into a partial answer.
func (s *Server) searchBegin(c echo.Context) (authzenCaller, api.AuthZENSearchRequest, string, error) {
	var req api.AuthZENSearchRequest
	caller, err := s.authenticate(c)
	if err != nil {
		return caller, req, "", err
	}
	if caller.closed {
		return caller, req, "", errSearchFailed
	}
	path := c.Request().URL.Path
	digest, err := s.authzenDecode(c, &req, func(body []byte) string { return searchDigest(path, body) })
	return caller, req, digest, err
}

var errSearchFailed = &api.Error{Code: api.CodeInternal, Message: "internal error",
	Err: errors.New("an AuthZEN search failed closed: a decision could not be made")}

// searchSubjectID reads the subject given as input: an agent, by id. A subject of another
// type is "", a subject Kavach does not know, whose search finds nothing (§8: the results
// are the entities that are permitted, and there are none) rather than a 400.
func searchSubjectID(sub *api.AuthZENSubject) (string, error) {
	switch {
	case sub == nil:
		return "", invalid("subject", "a subject is required")
	case sub.Type == "":
		return "", invalid("subject.type", "is required")
	case sub.ID == "":
		return "", invalid("subject.id", "the subject's id is required")
	case sub.Type != authzenSubjectType:
		return "", nil
	}
	if err := agent.ValidateIdentifier("subject.id", sub.ID); err != nil {
		return "", err
	}
	return sub.ID, nil
}

// searchPage reads page: the key after which to resume (from a token issued for this same
// request, digest) and the limit. A limit over the maximum is the maximum, as a PDP may
// answer fewer results than asked (§8.2). A limit of 0 is the default: every page of a
// request has the same limit (§8.2), and pages of none would never reach the end.
func searchPage(p *api.AuthZENPage, digest string) (after string, limit int, err error) {
	limit = api.DefaultAuthZENSearchLimit
	if p == nil {
		return "", limit, nil
	}
	if p.Limit != nil {
		switch limit = *p.Limit; {
		case limit < 0:
			return "", 0, invalid("page.limit", "must be a non-negative integer")
		case limit == 0:
			limit = api.DefaultAuthZENSearchLimit
		case limit > api.MaxAuthZENSearchLimit:
			limit = api.MaxAuthZENSearchLimit
		}
	}
	if p.Token == "" {
		return "", limit, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(p.Token)
	if err != nil || len(b) < 1+len(digest)+pageTokenCheckLen || b[0] != pageTokenTag {
		return "", 0, invalid("page.token", "not a next_token this server issued")
	}
	body, check := b[:len(b)-pageTokenCheckLen], b[len(b)-pageTokenCheckLen:]
	if sum := pageTokenCheck(body); !bytes.Equal(check, sum[:pageTokenCheckLen]) || !utf8.Valid(body[1+len(digest):]) {
		return "", 0, invalid("page.token", "not a next_token this server issued, or altered")
	}
	if string(body[1:1+len(digest)]) != digest {
		// §8.2: every member but the token must be the same as on the first page.
		return "", 0, invalid("page.token", "the request differs from the one this token continues: only page.token may change between pages")
	}
	return string(body[1+len(digest):]), limit, nil
}

// A page token is the tag, the request's digest, the key of the last result answered, and
// a check over those, base64url-encoded. The check makes a token altered in any way a 400
// rather than a resumption somewhere else. It is not a secret: a caller who forges a token
// only moves where its own listing resumes, and every result is still a decision's.
const (
	pageTokenTag      = 'p'
	pageTokenCheckLen = 4
)

func pageTokenCheck(b []byte) [sha256.Size]byte {
	return sha256.Sum256(append([]byte("kavach authzen page token\x00"), b...))
}

// pageToken is the next_token that resumes after key, for the request of digest.
func pageToken(digest, key string) string {
	b := []byte(string(pageTokenTag) + digest + key)
	sum := pageTokenCheck(b)
	return base64.RawURLEncoding.EncodeToString(append(b, sum[:pageTokenCheckLen]...))
}

// searchDigest sums a search request sent to path, page.token left out, so that a token is
// taken only with the request it continues, at the endpoint (and tenant) that issued it.
// Members are compared as JSON values: their order and spacing do not matter; a member
// Kavach ignores still counts.
func searchDigest(path string, body []byte) string {
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return "" // not reached: the body was decoded once already
	}
	if page, ok := v["page"].(map[string]any); ok {
		delete(page, "token")
		if len(page) == 0 {
			delete(v, "page")
		}
	} else if v["page"] == nil {
		delete(v, "page")
	}
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(append(append([]byte(path), 0), b...))
	return string(sum[:searchDigestLen])
}

const searchDigestLen = 9

// searchCapabilities are the subject's effective grants as the caller may see them. An
// agent asking with its own token may search only for itself; an agent outside an API
// key's reach has none, exactly as one that does not exist.
func (s *Server) searchCapabilities(c echo.Context, caller authzenCaller, subject string) ([]api.Capability, error) {
	ctx := rctx(c)
	if caller.token != "" {
		a, err := s.k.Agents().ValidateToken(ctx, caller.token)
		if err != nil {
			return nil, err
		}
		if subject == "" {
			return nil, nil
		}
		if a.ID != subject {
			return nil, &api.Error{Code: api.CodeForbidden, Field: "subject.id", Message: "an agent's token may search only for that agent"}
		}
	}
	if subject == "" {
		return nil, nil // a subject of a type Kavach does not judge has no grants
	}
	caps, err := s.k.Agents().Capabilities(ctx, subject)
	if api.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return caps.Capabilities, nil
}

// searchWalk tries the candidates after the key after, in order, until limit of them are
// allowed, and returns those and the token of the next page. The token is "" only when no
// result is left (§8.2.2): past the limit, candidates are tried until one more is allowed,
// and the next page starts again at that one.
func (s *Server) searchWalk(c echo.Context, caller authzenCaller, subject string, ctx *api.AuthZENContext,
	cands []searchCandidate, caps []api.Capability, digest, after string, limit int) ([]searchHit, string, error) {
	start, _ := slices.BinarySearchFunc(cands, after, func(sc searchCandidate, k string) int { return strings.Compare(sc.key, k) })
	if after != "" && start < len(cands) && cands[start].key == after {
		start++
	}
	hits := []searchHit{}
	for i := start; i < len(cands); i++ {
		h, err := s.searchTry(c, caller, subject, ctx, cands[i], caps)
		if err != nil {
			return nil, "", err
		}
		if h == nil {
			continue
		}
		if len(hits) == limit {
			return hits, pageToken(digest, lastKey(hits, after)), nil
		}
		hits = append(hits, *h)
	}
	return hits, "", nil
}

// lastKey is the key of the last hit answered, or after when none was.
func lastKey(hits []searchHit, after string) string {
	if len(hits) == 0 {
		return after
	}
	return hits[len(hits)-1].key
}

// searchTry makes cand's dry run for subject and returns the hit if it is allowed, nil if
// not. A decision that fails closed fails the whole search: a partial answer would look
// whole.
func (s *Server) searchTry(c echo.Context, caller authzenCaller, subject string, ctx *api.AuthZENContext,
	cand searchCandidate, caps []api.Capability) (*searchHit, error) {
	if err := rctx(c).Err(); err != nil {
		return nil, err
	}
	d, err := s.authzenDecide(c, caller, &authzenCall{agentID: subject, req: cand.probe, context: ctx, path: topLevelPaths})
	if err != nil {
		if status, _ := classify(err); status >= 500 {
			return nil, errSearchFailed
		}
		return nil, err
	}
	if code := d.Context.Code; code == api.EngineError || code == api.PolicyNotLoaded {
		return nil, errSearchFailed
	}
	if !d.Decision {
		return nil, nil
	}
	return &searchHit{key: cand.key, properties: searchProperties(cand, d.Context, caps)}, nil
}

// searchProperties says of an answered item whether it is a pattern, and the grant that
// allowed its dry run: its id, delegation chain and constraints.
func searchProperties(cand searchCandidate, d *api.AuthZENDecisionContext, caps []api.Capability) map[string]any {
	p := map[string]any{"pattern": cand.pattern}
	if d.Grant != "" {
		p["grant"] = d.Grant
	}
	if len(d.Via) > 0 {
		p["via"] = d.Via
	}
	for _, cp := range caps {
		if cp.Grant == d.Grant && slices.Equal(cp.Via, d.Via) {
			if cp.Constraints != nil {
				p["constraints"] = cp.Constraints
			}
			break
		}
	}
	return p
}

// idUnderType is the part of pattern within resources of type typ — resources typ + ":" +
// id, id at least one segment — as an id pattern, or false if the pattern holds none.
// "mcp:github:*" under "mcp:github" is "*"; "mcp:*:read" under "mcp:github" is "read";
// "*" or "mcp:*" under "mcp:github" is "*" (one or more segments).
func idUnderType(pattern, typ string) (string, bool) {
	ps, ts := strings.Split(pattern, ":"), strings.Split(typ, ":")
	for i, t := range ts {
		switch {
		case i >= len(ps):
			return "", false
		case ps[i] == "*" && i == len(ps)-1:
			return "*", true // a trailing "*": any id
		case ps[i] != "*" && ps[i] != t:
			return "", false
		}
	}
	if len(ps) == len(ts) {
		return "", false // the type itself, with no id
	}
	return strings.Join(ps[len(ts):], ":"), true
}

// representative is a concrete resource id for an id pattern: each "*" segment replaced by
// the placeholder.
func representative(id string) string {
	segs := strings.Split(id, ":")
	for i, s := range segs {
		if s == "*" {
			segs[i] = searchPlaceholder
		}
	}
	return strings.Join(segs, ":")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
