package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// flashCookie carries what an action has to say to the page it redirects to: a
// confirmation, and after a rotation the new token. It is encrypted (the token must not
// be readable on the way) and lives for one page view.
const (
	flashCookie = "kavach_console_flash"
	flashTTL    = 2 * time.Minute
)

// flash is a message for the next page. Token is a rotated agent's new token, shown once.
type flash struct {
	Message string `json:"m"`
	Token   string `json:"t,omitempty"`
	Agent   string `json:"a,omitempty"`
	Until   string `json:"u,omitempty"`
	Exp     int64  `json:"e"`
}

func (c *Console) aead() cipher.AEAD {
	k := sha256.Sum256(append([]byte("console flash\x00"), c.key...))
	b, _ := aes.NewCipher(k[:])
	g, _ := cipher.NewGCM(b)
	return g
}

// redirectWith answers a POST with a redirect to path (post/redirect/get), carrying f to
// the page there. Reloading that page repeats nothing.
func (c *Console) redirectWith(w http.ResponseWriter, r *http.Request, path string, f flash) {
	f.Exp = c.cfg.Now().Add(flashTTL).Unix()
	b, _ := json.Marshal(f)
	g := c.aead()
	nonce := make([]byte, g.NonceSize())
	_, _ = rand.Read(nonce)
	c.setCookie(w, r, flashCookie, base64.RawURLEncoding.EncodeToString(g.Seal(nonce, nonce, b, nil)), flashTTL)
	http.Redirect(w, r, Prefix+path, http.StatusSeeOther)
}

// takeFlash reads the flash a redirect left and clears it, so it is shown once.
func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	c.clearCookie(w, r, flashCookie)
	raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
	g := c.aead()
	if err != nil || len(raw) < g.NonceSize() {
		return nil
	}
	b, err := g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], nil)
	var f flash
	if err != nil || json.Unmarshal(b, &f) != nil || c.cfg.Now().Unix() >= f.Exp {
		return nil
	}
	return &f
}

// localPath keeps next only if it is a console page of this site, so a login link cannot
// send the browser elsewhere.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Prefix + "/approvals"
	}
	u.Path = path.Clean("/" + u.Path)
	if (u.Path != Prefix && !strings.HasPrefix(u.Path, Prefix+"/")) || strings.HasPrefix(u.Path, Prefix+"/login") {
		return Prefix + "/approvals"
	}
	return u.RequestURI()
}
