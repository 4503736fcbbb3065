// Package storetest is the conformance suite every store backend must pass. A backend's
// tests call Run with a constructor that returns a fresh, migrated, empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// NewStore returns a fresh, migrated store that the test owns.
type NewStore func(t *testing.T) store.Store

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore, opts ...Option) {
	o := newOptions(opts)
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"CreateAndGetRoundTrip", testCreateGet},
		{"CreateConflicts", testCreateConflicts},
		{"NotFound", testNotFound},
		{"TokenLookup", testTokenLookup},
		{"RotateWithoutGrace", testRotateNoGrace},
		{"RotateWithGrace", testRotateGrace},
		{"ListPaginatesInStableOrder", testListPaginates},
		{"ListFilters", testListFilters},
		{"ListRejectsBadCursor", testListBadCursor},
		{"Update", testUpdate},
		{"UpdateFailureWritesNothing", testUpdateFailure},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"Tenants", testTenants},
		{"MigrateIsIdempotent", testMigrateIdempotent},
		{"AllAgentsWalksEveryTenantInOrder", testAllAgents},
		{"AllAgentsStoppedEarly", testAllAgentsStoppedEarly},
		{"CreateAgentsInBulk", testCreateAgentsInBulk},
		{"CreateAgentsConflictsWriteNothing", testCreateAgentsConflictsWriteNothing},
		{"ApprovalRoundTrip", testApprovalRoundTrip},
		{"OpenApprovalReusesLivePending", testOpenApprovalReuses},
		{"OpenApprovalConcurrentCallersShareOne", testOpenApprovalConcurrent},
		{"UpdateApproval", testUpdateApproval},
		{"ApprovalNotFound", testApprovalNotFound},
		{"ListApprovalsFilters", testListApprovals},
		{"ListApprovalsStatusIsEffective", testListApprovalsByStatus},
		{"ConsumeConcurrentAdmitsExactlyMax", testConsumeConcurrent},
		{"ConsumeSlidingWindow", testConsumeSliding},
		{"ConsumeAllOrNothing", testConsumeAllOrNothing},
		{"ConsumeApprovalUses", testConsumeApprovalUses},
		{"ConsumeConcurrentSpendsEachApprovalUseOnce", testConsumeApprovalConcurrent},
		{"ConsumeRejectsInvalidLimits", testConsumeInvalidLimits},
		{"RateRemaining", testRateRemaining},
		{"AuditRoundTrip", testAuditRoundTrip},
		{"AuditAppendIsIdempotent", testAuditAppendIdempotent},
		{"AuditQuery", testAuditQuery},
		{"AuditAgentQueryAcrossEpochs", testAuditAgentQueryAcrossEpochs},
		{"AuditTraceID", testAuditTraceID},
		{"CurrentApprovalPrefersDecisions", testCurrentApprovalPrefersDecisions},
		{"AuditConcurrentAppendsStayGapFree", testAuditConcurrentAppendsStayGapFree},
		{"AuditCheckpointsAndPruning", testAuditCheckpointsAndPruning},
		{"AuditVerifiedRecord", testAuditVerified},
		{"DelegationRoundTrip", testDelegationRoundTrip},
		{"DelegationCreateConflicts", testDelegationCreateConflicts},
		{"DelegationNotFound", testDelegationNotFound},
		{"ListDelegationsFilters", testListDelegations},
		{"UpdateDelegation", testUpdateDelegation},
		{"UpdateDelegationFailureWritesNothing", testUpdateDelegationFailure},
		{"ConcurrentDelegationUpdatesLoseNothing", testConcurrentDelegationUpdates},
		{"AllDelegationsWalksActiveOfEveryTenant", testAllDelegations},
		{"RelayPositions", testRelayPositions},
		{"RelayPositionsConcurrentSavesKeepTheHighest", testRelayPositionsConcurrent},
		{"LeaseExclusive", testLeaseExclusive},
		{"LeaseConcurrentTakersGetOne", testLeaseConcurrentTakersGetOne},
		{"LeaseAcrossStores", o.testLeaseAcrossStores},
		{"APIKeyRoundTrip", testAPIKeyRoundTrip},
		{"APIKeyCreateConflicts", testAPIKeyCreateConflicts},
		{"ListAPIKeysFilters", testListAPIKeys},
		{"RevokeAPIKeyKeepsFirstTime", testRevokeAPIKey},
		{"BootstrapAPIKeyOnlyOnce", testBootstrapAPIKey},
		{"ManagedWritesCommitTheirEvents", testManagedWritesCommitTheirEvents},
		{"ManagedWriteFailuresCommitNothing", testManagedWriteFailuresCommitNothing},
		{"ManagedWriteCancelledCommitsNothing", testManagedWriteCancelledCommitsNothing},
		{"ManagedPruneCommitsItsEvent", testManagedPruneCommitsItsEvent},
		{"OAuth", testOAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

var ctx = context.Background()

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// NewAgent returns a valid agent with a rich permission set, not yet stored.
func NewAgent(tenant, owner string) *agent.Agent {
	ts := now()
	exp := ts.Add(24 * time.Hour)
	return &agent.Agent{
		ID: agent.NewID(agent.PrefixAgent), TenantID: tenant, OwnerID: owner, Name: "reviewer",
		Type: agent.TypeAutonomous, Status: agent.StatusActive, TokenPrefix: "kv_abcdefgh",
		ExpiresAt: &exp,
		Permissions: []agent.Permission{
			{ID: agent.NewID(agent.PrefixPermission), Resource: "mcp:github:*", Actions: []string{"read", "write"},
				Constraints: &agent.Constraints{
					RateLimit:        &agent.RateLimit{Max: 10, Window: agent.Duration(time.Minute)},
					TimeWindows:      []agent.TimeWindow{{Days: []string{"mon", "fri"}, Start: "22:00", End: "06:00", Timezone: "Europe/Berlin"}},
					IPAllowlist:      []string{"10.0.0.0/8", "2001:db8::/32"},
					ArgumentPatterns: map[string]string{"branch": "dev-.*"},
					Approval:         &agent.Approval{Required: true, TTL: agent.Duration(time.Hour), Approvers: []string{"user_2"}},
				}},
			{ID: agent.NewID(agent.PrefixPermission), Resource: "*", Actions: []string{"*"}},
		},
		Metadata:  map[string]string{"team": "platform"},
		CreatedAt: ts, UpdatedAt: ts,
	}
}

func mustCreate(t *testing.T, s store.Store, a *agent.Agent) string {
	t.Helper()
	hash := agent.HashToken(agent.MintToken())
	if err := s.CreateAgent(ctx, a, hash); err != nil {
		t.Fatalf("CreateAgent: %v", err)
	}
	return hash
}

func equalAgents(t *testing.T, got, want *agent.Agent) {
	t.Helper()
	if g, w := dump(got), dump(want); g != w {
		t.Fatalf("agent differs:\n got  %s\n want %s", g, w)
	}
}

// dump renders an agent as JSON with times in UTC, so that two agents compare by value.
func dump(a *agent.Agent) string {
	c := a.Clone()
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if c.ExpiresAt != nil {
		e := c.ExpiresAt.UTC()
		c.ExpiresAt = &e
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func testTenants(t *testing.T, s store.Store) {
	def, err := s.GetTenant(ctx, agent.DefaultTenant)
	if err != nil || def.ID != agent.DefaultTenant {
		t.Fatalf("the default tenant must exist after migration: %v", err)
	}
	acme := &agent.Tenant{ID: "acme", Name: "Acme Corp", CreatedAt: now()}
	if err := s.CreateTenant(ctx, acme); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, &agent.Tenant{ID: "acme", Name: "again", CreatedAt: now()}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate tenant: want ErrConflict, got %v", err)
	}
	got, err := s.GetTenant(ctx, "acme")
	if err != nil || got.Name != "Acme Corp" || !got.CreatedAt.Equal(acme.CreatedAt) {
		t.Fatalf("GetTenant: %+v, %v", got, err)
	}
	list, err := s.ListTenants(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "acme" || list[1].ID != agent.DefaultTenant {
		t.Fatalf("ListTenants (by id): %+v, %v", list, err)
	}
}

func testMigrateIdempotent(t *testing.T, s store.Store) {
	n, err := s.Migrate(ctx)
	if err != nil || n != 0 {
		t.Fatalf("second Migrate applied %d, %v; want 0, nil", n, err)
	}
}
