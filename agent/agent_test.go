package agent

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMatchResource(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pattern, resource string
		want              bool
	}{
		{"*", "anything", true},
		{"*", "a:b:c", true},
		{"mcp:github:*", "mcp:github:repos", true},
		{"mcp:github:*", "mcp:github:repos:42", true},
		{"mcp:github:*", "mcp:github", false},
		{"mcp:github:*", "mcp:gitlab:repos", false},
		{"mcp:*:read", "mcp:slack:read", true},
		{"mcp:*:read", "mcp:slack:write", false},
		{"mcp:*:read", "mcp:slack:x:read", false},
		{"mcp:github", "mcp:github", true},
		{"mcp:github", "mcp:github:repos", false},
		{"mcp:*", "mcp:a:b", true},
		{"*:x", "a:x", true},
		{"*:x", "x", false},
	}
	for _, c := range cases {
		if got := MatchResource(c.pattern, c.resource); got != c.want {
			t.Errorf("MatchResource(%q, %q) = %v, want %v", c.pattern, c.resource, got, c.want)
		}
	}
}

func TestValidateResourcePattern(t *testing.T) {
	t.Parallel()
	good := []string{"*", "mcp:github:*", "mcp:*:read", "a", "files:/etc/hosts"}
	for _, p := range good {
		if err := ValidateResourcePattern(p); err != nil {
			t.Errorf("%q: unexpected error %v", p, err)
		}
	}
	bad := []string{"", "mcp::x", ":mcp", "mcp:", "mcp:git*", "mcp:a b", strings.Repeat("a", 600), strings.Repeat("a:", 40) + "a"}
	for _, p := range bad {
		if err := ValidateResourcePattern(p); err == nil {
			t.Errorf("%q: expected an error", p)
		}
	}
	if err := ValidateResource("mcp:*"); err == nil {
		t.Error("a concrete resource may not contain *")
	}
}

func validAgent() *Agent {
	return &Agent{
		ID: NewID(PrefixAgent), TenantID: "default", OwnerID: "user_1", Name: "reviewer",
		Type: TypeAutonomous, Status: StatusActive,
		Permissions: []Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}},
	}
}

func TestValidateNamesTheField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		edit  func(a *Agent)
		field string
	}{
		{"bad pattern", func(a *Agent) { a.Permissions[0].Resource = "mcp:git*" }, "permissions[0].resource"},
		{"empty actions", func(a *Agent) { a.Permissions[0].Actions = nil }, "permissions[0].actions"},
		{"duplicate action", func(a *Agent) { a.Permissions[0].Actions = []string{"r", "r"} }, "permissions[0].actions[1]"},
		{"unknown type", func(a *Agent) { a.Type = "robot" }, "type"},
		{"bad cidr", func(a *Agent) {
			a.Permissions[0].Constraints = &Constraints{IPAllowlist: []string{"10.0.0.0/8", "10.0.0.0/99"}}
		}, "permissions[0].constraints.ipAllowlist[1]"},
		{"bad zone", func(a *Agent) {
			a.Permissions[0].Constraints = &Constraints{TimeWindows: []TimeWindow{{Start: "09:00", End: "17:00", Timezone: "Mars/Olympus"}}}
		}, "permissions[0].constraints.timeWindows[0].timezone"},
		{"bad clock", func(a *Agent) {
			a.Permissions[0].Constraints = &Constraints{TimeWindows: []TimeWindow{{Start: "9am", End: "17:00", Timezone: "UTC"}}}
		}, "permissions[0].constraints.timeWindows[0].start"},
		{"bad day", func(a *Agent) {
			a.Permissions[0].Constraints = &Constraints{TimeWindows: []TimeWindow{{Days: []string{"funday"}, Start: "09:00", End: "17:00", Timezone: "UTC"}}}
		}, "permissions[0].constraints.timeWindows[0].days[0]"},
		{"bad regex", func(a *Agent) {
			a.Permissions[0].Constraints = &Constraints{ArgumentPatterns: map[string]string{"branch": "(("}}
		}, "permissions[0].constraints.argumentPatterns.branch"},
		{"zero rate", func(a *Agent) {
			a.Permissions[0].Constraints = &Constraints{RateLimit: &RateLimit{Max: 0, Window: Duration(time.Minute)}}
		}, "permissions[0].constraints.rateLimit.max"},
		{"huge name", func(a *Agent) { a.Name = strings.Repeat("x", 10<<20) }, "name"},
		{"empty name", func(a *Agent) { a.Name = "  " }, "name"},
		{"empty owner", func(a *Agent) { a.OwnerID = "" }, "ownerId"},
		{"too many metadata", func(a *Agent) {
			a.Metadata = map[string]string{}
			for i := range 100 {
				a.Metadata[strings.Repeat("k", i+1)] = "v"
			}
		}, "metadata"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := validAgent()
			c.edit(a)
			err := a.Validate()
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			if ve.Field != c.field {
				t.Fatalf("field = %q, want %q (%v)", ve.Field, c.field, err)
			}
			if len(err.Error()) > 500 {
				t.Fatalf("error message is %d bytes: it must not echo huge input", len(err.Error()))
			}
		})
	}
	if err := validAgent().Validate(); err != nil {
		t.Fatalf("valid agent rejected: %v", err)
	}
}

func TestIDsSortByCreation(t *testing.T) {
	t.Parallel()
	a := NewID(PrefixAgent)
	time.Sleep(2 * time.Millisecond)
	b := NewID(PrefixAgent)
	if !strings.HasPrefix(a, "agt_") || len(a) != 30 {
		t.Fatalf("id %q has the wrong shape", a)
	}
	if a >= b {
		t.Fatalf("ids must sort by creation: %q >= %q", a, b)
	}
}

func TestExpiryAndUsable(t *testing.T) {
	t.Parallel()
	now := time.Now()
	a := validAgent()
	if a.Usable(now) != nil {
		t.Fatal("an agent with no expiry is usable")
	}
	past := now.Add(-time.Second)
	a.ExpiresAt = &past
	if !errors.Is(a.Usable(now), ErrExpired) {
		t.Fatal("expired agent must report ErrExpired")
	}
	a.Status = StatusRevoked
	if !errors.Is(a.Usable(now), ErrRevoked) {
		t.Fatal("revoked agent must report ErrRevoked")
	}
}

func TestAssignPermissionIDsKeepsIDs(t *testing.T) {
	t.Parallel()
	prev := []Permission{
		{ID: "perm_a", Resource: "mcp:github:*", Actions: []string{"read", "write"}},
		{ID: "perm_b", Resource: "mcp:slack:*", Actions: []string{"post"}},
	}
	next := []Permission{
		{Resource: "mcp:github:*", Actions: []string{"write", "read"}, Constraints: &Constraints{IPAllowlist: []string{"10.0.0.1"}}},
		{Resource: "mcp:slack:*", Actions: []string{"post", "read"}},
		{ID: "perm_b", Resource: "mcp:jira:*", Actions: []string{"read"}},
	}
	AssignPermissionIDs(prev, next)
	if next[0].ID != "perm_a" {
		t.Errorf("same resource and actions (reordered) must keep the id, got %q", next[0].ID)
	}
	if next[1].ID == "perm_b" || !strings.HasPrefix(next[1].ID, "perm_") {
		t.Errorf("changed actions must get a new id, got %q", next[1].ID)
	}
	if next[2].ID != "perm_b" {
		t.Errorf("an explicit id is kept, got %q", next[2].ID)
	}
}

func TestCloneIsDeep(t *testing.T) {
	t.Parallel()
	a := validAgent()
	a.Metadata = map[string]string{"k": "v"}
	a.Permissions[0].Constraints = &Constraints{IPAllowlist: []string{"1.2.3.4"}, RateLimit: &RateLimit{Max: 1, Window: Duration(time.Second)}}
	c := a.Clone()
	c.Metadata["k"] = "changed"
	c.Permissions[0].Actions[0] = "changed"
	c.Permissions[0].Constraints.IPAllowlist[0] = "changed"
	c.Permissions[0].Constraints.RateLimit.Max = 9
	if a.Metadata["k"] != "v" || a.Permissions[0].Actions[0] != "read" ||
		a.Permissions[0].Constraints.IPAllowlist[0] != "1.2.3.4" || a.Permissions[0].Constraints.RateLimit.Max != 1 {
		t.Fatal("Clone shares state with the original")
	}
	if !slices.Equal(a.Permissions[0].Actions, []string{"read"}) {
		t.Fatal("actions changed")
	}
}

func TestIDsStrictlyIncreaseWithinAMillisecond(t *testing.T) {
	prev := NewID("")
	for range 10000 {
		id := NewID("")
		if id <= prev {
			t.Fatalf("%q after %q: ids must strictly increase", id, prev)
		}
		prev = id
	}
}
