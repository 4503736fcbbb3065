package echo_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	echov4 "github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/adapters/echo"
	"github.com/kavachos/kavach-go/adapters/internal/adaptertest"
	"github.com/kavachos/kavach-go/adapters/nethttp"
)

func TestEcho(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T, cfg nethttp.Config) string {
		mw, err := echo.Middleware(echo.Config{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		e := echov4.New()
		e.HideBanner, e.HidePort = true, true
		e.Use(mw)
		reply := func(c echov4.Context) error {
			d, ok := echo.DecisionFrom(c)
			if fromCtx, _ := nethttp.DecisionFrom(c.Request().Context()); !ok || fromCtx != d {
				return c.String(http.StatusInternalServerError, "the decision is not in both contexts")
			}
			adaptertest.Reply(c.Response(), c.Request(), d)
			return nil
		}
		e.GET("/repos/:id", reply)
		e.POST("/deploy", reply)
		e.GET("/admin", reply)
		e.GET("/internal", reply)
		srv := httptest.NewServer(e)
		t.Cleanup(srv.Close)
		return srv.URL
	})
}
