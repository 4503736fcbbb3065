package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestServeConsole: `kavach serve` serves the web console at /console, with the dev login
// form when --dev-login is on and a plain refusal when no login method is configured.
func TestServeConsole(t *testing.T) {
	t.Parallel()
	page := func(url string) string {
		t.Helper()
		resp, err := http.Get(url + "/console/login")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/console/login: %d", resp.StatusCode)
		}
		return string(b)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := startServe(t, t.TempDir(), nil, "--listen", addr, "--issuer", "http://"+addr+"/oauth", "--dev-login", "--console-admins", "sec-admin")
	defer s.stop(t)
	if p := page(s.url); !strings.Contains(p, `name="username"`) {
		t.Errorf("with --dev-login the login page has no form:\n%s", p)
	}
	if !strings.Contains(s.log(), "web console") {
		t.Errorf("the console is announced in the log:\n%s", s.log())
	}

	plain := startServe(t, t.TempDir(), nil)
	defer plain.stop(t)
	if p := page(plain.url); !strings.Contains(p, "No login method") || strings.Contains(p, `name="username"`) {
		t.Errorf("without a login method:\n%s", p)
	}
}
