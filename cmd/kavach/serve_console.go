package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/spf13/pflag"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/console"
	"github.com/kavachos/kavach-go/oidc"
	"github.com/kavachos/kavach-go/service"
)

// consoleConfig is the web console's part of serveConfig. The console logs people in with
// the authorization server's login settings (--dev-login, --upstream-*), in its tenant.
type consoleConfig struct {
	Admins     listValue `yaml:"consoleAdmins"`
	SessionKey string    `yaml:"consoleSessionKey"`
}

var consoleServeFlags = []serveFlag{
	{"console-admins", "KAVACH_CONSOLE_ADMINS"}, {"console-session-key", "KAVACH_CONSOLE_SESSION_KEY"},
}

func init() { serveFlags = append(serveFlags, consoleServeFlags...) }

func bindConsoleFlags(fs *pflag.FlagSet, c *consoleConfig) {
	fs.Var(&c.Admins, "console-admins", "comma-separated users who act as the tenant's admin in the web console (env KAVACH_CONSOLE_ADMINS)")
	fs.StringVar(&c.SessionKey, "console-session-key", "", "secret signing console sessions; instances behind one address need the same (default random: logins end on restart) (env KAVACH_CONSOLE_SESSION_KEY)")
}

// consoleMounts builds the web console at /console. Without --issuer it has no login
// method and says so on its login page.
func consoleMounts(ctx context.Context, k *kavach.Kavach, cfg serveConfig, log *slog.Logger) ([]service.Mount, error) {
	oc, err := cfg.OAuth.oidcConfig(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	cc := console.Config{
		Kavach: k, Tenant: oc.Tenant, Admins: cfg.Console.Admins, DevLogin: oc.Login.DevLogin,
		Key: []byte(cfg.Console.SessionKey), Logger: log,
	}
	if oc.Issuer != "" {
		iss, err := url.Parse(oc.Issuer)
		if err != nil {
			return nil, fmt.Errorf("--issuer: %w", err)
		}
		cc.URL = iss.Scheme + "://" + iss.Host + console.Prefix
	}
	if oc.Login.Upstream.Issuer != "" {
		if cc.Upstream, err = oidc.NewUserLogin(ctx, oc.Login.Upstream, cc.URL+"/login/callback"); err != nil {
			return nil, err
		}
	}
	c, err := console.New(cc)
	if err != nil {
		return nil, err
	}
	log.Info("web console", "path", console.Prefix, "devLogin", cc.DevLogin, "upstream", cc.Upstream != nil)
	return []service.Mount{{Paths: c.Paths(), Handler: c}}, nil
}
