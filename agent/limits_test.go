package agent_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/agent"
)

func TestValidateIP(t *testing.T) {
	t.Parallel()
	for _, ip := range []string{"10.0.0.1", "2001:db8::1", "::ffff:10.0.0.1", "fe80::1"} {
		if err := agent.ValidateIP("ip", ip); err != nil {
			t.Errorf("%q: %v", ip, err)
		}
	}
	for _, ip := range []string{"", "fe80::1%eth0", "fe80::1%eth0\r\nX: y", "10.0.0.1\n", " 10.0.0.1", "10.0.0.0/8", "10.0.0.300", "example.com"} {
		err := agent.ValidateIP("context.ip", ip)
		var ve *agent.ValidationError
		if !errors.As(err, &ve) || ve.Field != "context.ip" {
			t.Errorf("%q: %v, want a validation error naming context.ip", ip, err)
		}
	}
}

func TestStringLimits(t *testing.T) {
	t.Parallel()
	cases := map[string]int{
		"agentId": agent.MaxIDLen, "ownerId": agent.MaxIDLen, "tenantId": agent.MaxIDLen, "approvers": agent.MaxIDLen,
		"name": agent.MaxNameLen, "actions": agent.MaxActionLen, "resource": agent.MaxResourceLen,
		"userAgent": agent.MaxUserAgentLen, "reason": agent.MaxReasonLen, "cursor": agent.MaxCursorLen,
		"timezone": agent.MaxStringLen,
	}
	for name, want := range cases {
		if got := agent.StringLimit(name); got != want {
			t.Errorf("StringLimit(%q) = %d, want %d", name, got, want)
		}
	}
	if k, v := agent.MapLimits("metadata"); k != agent.MaxMetadataKeyLen || v != agent.MaxMetadataValLen {
		t.Errorf("metadata: %d %d", k, v)
	}
}

func TestValidateMetadataNamesTheKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		m     map[string]string
		field string
	}{
		{map[string]string{"k": strings.Repeat("v", agent.MaxMetadataValLen+1)}, "metadata.k"},
		{map[string]string{"k\xff": "v"}, "metadata.k\xff"},
		{map[string]string{"k": "v\xff"}, "metadata.k"},
		{map[string]string{"a\r\nb": "v"}, "metadata.a\r\nb"},
		{map[string]string{strings.Repeat("k", agent.MaxMetadataKeyLen+1): "v"}, "metadata"},
	}
	for _, tc := range cases {
		err := agent.ValidateMetadata("metadata", tc.m)
		var ve *agent.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%q: %v, want a validation error naming %q", tc.m, err, tc.field)
		}
	}
	if err := agent.ValidateMetadata("metadata", map[string]string{"team": "payments\nline two"}); err != nil {
		t.Errorf("a value may span lines: %v", err)
	}
}
