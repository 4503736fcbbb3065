package gin_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	gingonic "github.com/gin-gonic/gin"

	"github.com/kavachos/kavach-go/adapters/gin"
	"github.com/kavachos/kavach-go/adapters/internal/adaptertest"
	"github.com/kavachos/kavach-go/adapters/nethttp"
)

func TestGin(t *testing.T) {
	gingonic.SetMode(gingonic.TestMode)
	adaptertest.Run(t, func(t *testing.T, cfg nethttp.Config) string {
		mw, err := gin.Middleware(gin.Config{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		r := gingonic.New()
		r.Use(mw)
		reply := func(c *gingonic.Context) {
			d, ok := gin.DecisionFrom(c)
			if fromCtx, _ := nethttp.DecisionFrom(c.Request.Context()); !ok || fromCtx != d {
				c.String(http.StatusInternalServerError, "the decision is not in both contexts")
				return
			}
			adaptertest.Reply(c.Writer, c.Request, d)
		}
		r.GET("/repos/:id", reply)
		r.POST("/deploy", reply)
		r.GET("/admin", reply)
		r.GET("/internal", reply)
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		return srv.URL
	})
}
