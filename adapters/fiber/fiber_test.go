package fiber_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	fiberv2 "github.com/gofiber/fiber/v2"

	"github.com/kavachos/kavach-go/adapters/fiber"
	"github.com/kavachos/kavach-go/adapters/internal/adaptertest"
	"github.com/kavachos/kavach-go/adapters/nethttp"
)

func TestFiber(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T, cfg nethttp.Config) string {
		mw, err := fiber.Middleware(fiber.Config{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		app := fiberv2.New(fiberv2.Config{DisableStartupMessage: true})
		reply := func(c *fiberv2.Ctx) error {
			d, ok := fiber.DecisionFrom(c)
			if !ok {
				return c.Status(http.StatusInternalServerError).SendString("no decision")
			}
			if fromCtx, _ := nethttp.DecisionFrom(c.UserContext()); fromCtx != d {
				return c.Status(http.StatusInternalServerError).SendString("the decision is not in the user context")
			}
			return c.JSON(adaptertest.Seen{Grant: d.Grant, AuditID: d.AuditID, Authorization: c.Get("Authorization"),
				TraceID: adaptertest.TraceIDOf(c.UserContext())})
		}
		app.Get("/repos/:id", mw, reply)
		app.Post("/deploy", mw, reply)
		app.Get("/admin", mw, reply)
		app.Get("/internal", mw, reply)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = app.Listener(ln) }()
		t.Cleanup(func() { _ = app.Shutdown() })
		return "http://" + ln.Addr().String()
	})
}

// With app.Use no route is matched yet: the path is mapped.
func TestFiberUseMapsThePath(t *testing.T) {
	t.Parallel()
	app := fiberv2.New()
	var got string
	app.Use(func(c *fiberv2.Ctx) error {
		req, err := fiber.DefaultMapper(c)
		got = req.Action + " " + req.Resource
		if err != nil {
			return err
		}
		return c.Next()
	})
	app.Get("/repos/:id", func(c *fiberv2.Ctx) error { return c.SendStatus(http.StatusNoContent) })
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/repos/42", nil))
	if err != nil || resp.StatusCode != http.StatusNoContent || got != "get http:repos:42" {
		t.Fatalf("%v %v: mapped %q", resp, err, got)
	}
}
