// Package dataset is the workload the performance benchmarks and the comparison with the OPA
// server share: agents with ten permissions each, and a request mix whose answers are known.
package dataset

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store"
)

// Tenant is the tenant every generated agent belongs to.
const Tenant = agent.DefaultTenant

// UnknownAgentID is a well-formed agent id that no generated agent has.
const UnknownAgentID = "agt_00000000000000000000000000"

var (
	office   = []string{"10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"}
	weekdays = []string{"mon", "tue", "wed", "thu", "fri"}
)

// aroundTheClock is business hours on weekdays, an overnight window every day and daytime
// at weekends: together they hold at any moment, so the request mix has the same answers
// whenever it runs, while every part of the window check (zones, days, overnight) is used.
func aroundTheClock(tz string) []agent.TimeWindow {
	return []agent.TimeWindow{
		{Days: weekdays, Start: "06:00", End: "22:00", Timezone: tz},
		{Start: "22:00", End: "06:00", Timezone: tz},
		{Days: []string{"sat", "sun"}, Start: "06:00", End: "22:00", Timezone: tz},
	}
}

// Permissions are the ten permissions every generated agent has: exact and wildcard
// resources, IP allowlists (IPv4 and IPv6 CIDRs), time windows in three zones and argument
// patterns, alone and combined. Ids are left empty.
func Permissions() []agent.Permission {
	return []agent.Permission{
		{Resource: "mcp:github:repos", Actions: []string{"read"}},
		{Resource: "mcp:github:*", Actions: []string{"read", "list"}, Constraints: &agent.Constraints{IPAllowlist: office}},
		{Resource: "mcp:github:*", Actions: []string{"push"}, Constraints: &agent.Constraints{
			ArgumentPatterns: map[string]string{"branch": "(dev|feature)-[a-z0-9-]+"}}},
		{Resource: "mcp:slack:*:post", Actions: []string{"call"}, Constraints: &agent.Constraints{
			TimeWindows: aroundTheClock("Europe/Berlin")}},
		{Resource: "mcp:jira:issues", Actions: []string{"read", "write"}},
		{Resource: "mcp:*:search", Actions: []string{"call"}},
		{Resource: "db:orders:*", Actions: []string{"select"}, Constraints: &agent.Constraints{IPAllowlist: office}},
		{Resource: "db:customers:*", Actions: []string{"select"}, Constraints: &agent.Constraints{
			IPAllowlist: office, TimeWindows: aroundTheClock("America/New_York")}},
		{Resource: "files:reports:*", Actions: []string{"read"}, Constraints: &agent.Constraints{
			ArgumentPatterns: map[string]string{"format": "pdf|csv"}}},
		{Resource: "http:api.example.com:*", Actions: []string{"get"}, Constraints: &agent.Constraints{
			TimeWindows: aroundTheClock("Asia/Kolkata"), ArgumentPatterns: map[string]string{"path": "/v1/[a-z/]+"}}},
	}
}

// NewAgent returns the i-th generated agent, with fresh ids, and its token.
func NewAgent(i int, now time.Time) (*agent.Agent, string) {
	perms := Permissions()
	agent.AssignPermissionIDs(nil, perms)
	token := agent.MintToken()
	return &agent.Agent{
		ID: agent.NewID(agent.PrefixAgent), TenantID: Tenant, OwnerID: fmt.Sprintf("user_%d", i%1000),
		Name: fmt.Sprintf("bench-%d", i), Type: agent.TypeAutonomous, Status: agent.StatusActive,
		TokenPrefix: agent.DisplayPrefix(token), Permissions: perms, CreatedAt: now, UpdatedAt: now,
	}, token
}

// Populate writes n generated agents into s, calling each (if not nil) after each one is
// stored. It bypasses the engine, as a migration or restore would: a Kavach opened over s
// afterwards compiles them all at once. Stores that create agents in bulk
// (store.BulkAgentCreator) get them in batches of PopulateBatch, one transaction each,
// while the next batch is generated; memory stays flat however many agents are written.
//
// adjust, if given, changes each generated agent before it is stored (OwnPermission).
func Populate(ctx context.Context, s store.Store, n int, each func(a *agent.Agent, token string) error, adjust ...func(a *agent.Agent, i int)) error {
	bulk, ok := s.(store.BulkAgentCreator)
	if !ok {
		bulk = oneByOne{s}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan generated, 1)
	go generate(ctx, n, batches, adjust)
	for b := range batches {
		if b.err != nil {
			return b.err
		}
		if err := bulk.CreateAgents(ctx, b.agents); err != nil {
			return fmt.Errorf("agents %d to %d: %w", b.first, b.first+len(b.agents)-1, err)
		}
		if each == nil {
			continue
		}
		for j, a := range b.agents {
			if err := each(a.Agent, b.tokens[j]); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// generated is one batch of generated agents, their tokens, and the index of the first.
type generated struct {
	first  int
	agents []store.AgentWithTokenHash
	tokens []string
	err    error
}

// generate sends n generated agents in batches, and closes out when done or ctx ends.
func generate(ctx context.Context, n int, out chan<- generated, adjust []func(a *agent.Agent, i int)) {
	defer close(out)
	now := time.Now().UTC().Truncate(time.Microsecond)
	for first := 0; first < n; first += PopulateBatch {
		size := min(n-first, PopulateBatch)
		b := generated{first: first, agents: make([]store.AgentWithTokenHash, 0, size), tokens: make([]string, 0, size)}
		for i := first; i < first+size; i++ {
			a, token := NewAgent(i, now)
			for _, f := range adjust {
				f(a, i)
			}
			// Every agent has the same permissions and generated ids, so validating the
			// first shows that they all are valid (validation loads every time zone).
			if i == 0 {
				if err := a.Validate(); err != nil {
					b.err = fmt.Errorf("agent %d: %w", i, err)
					break
				}
			}
			b.agents = append(b.agents, store.AgentWithTokenHash{Agent: a, TokenHash: agent.HashToken(token)})
			b.tokens = append(b.tokens, token)
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return
		}
		if b.err != nil {
			return
		}
	}
}

// PopulateBatch is how many agents Populate writes in one transaction.
const PopulateBatch = 5000

// oneByOne creates agents through CreateAgent, for stores without a bulk path.
type oneByOne struct{ s store.AgentStore }

func (o oneByOne) CreateAgents(ctx context.Context, batch []store.AgentWithTokenHash) error {
	for _, b := range batch {
		if err := o.s.CreateAgent(ctx, b.Agent, b.TokenHash); err != nil {
			return err
		}
	}
	return nil
}

// OwnPermission makes one of agent i's permissions its own: mcp:jira:issues, which no call
// of the mixes names, becomes mcp:jira:issues-i. Every answer stays the same, but no two
// agents then share a profile (engine/profile.go): the engine's decision memo cannot give
// one agent's answer to another, as with agents each given permissions by hand.
func OwnPermission(a *agent.Agent, i int) {
	for j := range a.Permissions {
		if a.Permissions[j].Resource == "mcp:jira:issues" {
			a.Permissions[j].Resource = fmt.Sprintf("mcp:jira:issues-%d", i)
		}
	}
}

// Request is one call of the mix and its known answer.
type Request struct {
	Name      string
	Action    string
	Resource  string
	Arguments map[string]any
	IP        string
	// Unknown asks about an agent that does not exist (or, by token, a token no agent has).
	Unknown bool
	Allowed bool
	Code    api.DecisionCode
}

// Allowed are calls every generated agent may make.
var Allowed = []Request{
	{Name: "exact", Action: "read", Resource: "mcp:github:repos", Allowed: true, Code: api.Allowed},
	{Name: "wildcard+ip", Action: "list", Resource: "mcp:github:repos:42", IP: "10.1.2.3", Allowed: true, Code: api.Allowed},
	{Name: "wildcard+args", Action: "push", Resource: "mcp:github:repos:42", Arguments: map[string]any{"branch": "dev-login"}, Allowed: true, Code: api.Allowed},
	{Name: "segment+window", Action: "call", Resource: "mcp:slack:general:post", Allowed: true, Code: api.Allowed},
	{Name: "inner-wildcard", Action: "call", Resource: "mcp:notion:search", Allowed: true, Code: api.Allowed},
	{Name: "ipv6+window", Action: "select", Resource: "db:customers:eu", IP: "2001:db8::7", Allowed: true, Code: api.Allowed},
	{Name: "window+args", Action: "get", Resource: "http:api.example.com:users", Arguments: map[string]any{"path": "/v1/users"}, Allowed: true, Code: api.Allowed},
	{Name: "args", Action: "read", Resource: "files:reports:q3", Arguments: map[string]any{"format": "pdf"}, Allowed: true, Code: api.Allowed},
}

// Denied are calls no generated agent may make, one per reason.
var Denied = []Request{
	{Name: "no-action", Action: "delete", Resource: "mcp:github:repos", Code: api.NoPermission},
	{Name: "no-resource", Action: "read", Resource: "mcp:github", Code: api.NoPermission},
	{Name: "ip-outside", Action: "select", Resource: "db:orders:2026", IP: "203.0.113.9", Code: api.IPNotAllowed},
	{Name: "ip-unknown", Action: "list", Resource: "mcp:github:repos:42", Code: api.IPNotAllowed},
	{Name: "args-mismatch", Action: "push", Resource: "mcp:github:repos:42", Arguments: map[string]any{"branch": "main"}, Code: api.ArgumentNotAllowed},
	{Name: "unknown-agent", Action: "read", Resource: "mcp:github:repos", Unknown: true, Code: api.AgentNotFound},
}

// Mix returns a named request mix: "allowed", "denied" or "mixed" (both, 8 allowed to 6
// denied).
func Mix(name string) ([]Request, error) {
	switch name {
	case "allowed":
		return Allowed, nil
	case "denied":
		return Denied, nil
	case "mixed":
		return append(append([]Request{}, Allowed...), Denied...), nil
	}
	return nil, fmt.Errorf("unknown mix %q: want allowed, denied or mixed", name)
}

// OPAData writes the data document the reference policy (tests/bench/reference.rego) reads:
// {"agents": {id: agent, …}}, each agent as the API returns it. It streams, so a data set
// of any size is written in constant memory.
type OPAData struct {
	w   *bufio.Writer
	n   int
	err error
}

// NewOPAData starts a data document on w.
func NewOPAData(w io.Writer) *OPAData {
	d := &OPAData{w: bufio.NewWriterSize(w, 1<<20)}
	_, d.err = d.w.WriteString(`{"agents":{`)
	return d
}

// Add writes one agent.
func (d *OPAData) Add(a *agent.Agent) error {
	if d.err != nil {
		return d.err
	}
	id, err := json.Marshal(a.ID)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if d.n > 0 {
		d.w.WriteByte(',')
	}
	d.n++
	d.w.Write(id)
	d.w.WriteByte(':')
	_, d.err = d.w.Write(doc)
	return d.err
}

// Close ends the document and flushes it.
func (d *OPAData) Close() error {
	if d.err != nil {
		return d.err
	}
	if _, err := d.w.WriteString("}}\n"); err != nil {
		return err
	}
	return d.w.Flush()
}
