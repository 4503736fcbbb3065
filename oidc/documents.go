package oidc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// documentFetcher fetches client ID metadata documents (client ids that are https URLs)
// without letting a client id point the server at internal networks: only public
// addresses are dialled (checked on the resolved address at connect time, so DNS tricks do
// not help), no proxy and no redirect is followed, and size and time are bounded. Valid
// documents are cached as their Cache-Control allows, within bounds.
type documentFetcher struct {
	http          *http.Client
	allowLoopback bool
	maxBytes      int64
	now           func() time.Time
	mu            sync.Mutex
	cache         map[string]cachedDocument
}

type cachedDocument struct {
	meta    *ClientMetadata
	expires time.Time
}

// Cache bounds for metadata documents.
const (
	docCacheMin     = 30 * time.Second
	docCacheDefault = 5 * time.Minute
	docCacheMax     = 24 * time.Hour
	docCacheEntries = 1000
)

func newDocumentFetcher(allowLoopback bool, timeout time.Duration, maxBytes int64, now func() time.Time) *documentFetcher {
	f := &documentFetcher{allowLoopback: allowLoopback, maxBytes: maxBytes, now: now, cache: map[string]cachedDocument{}}
	dialer := &net.Dialer{Timeout: timeout, Control: f.checkDial}
	f.http = &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                  nil, // a proxy would dial for us, past the address check
			DialContext:            dialer.DialContext,
			TLSHandshakeTimeout:    timeout,
			ResponseHeaderTimeout:  timeout,
			MaxResponseHeaderBytes: 16 << 10,
			DisableKeepAlives:      true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return f
}

// trust makes the fetcher check servers against roots instead of the system's CAs.
func (f *documentFetcher) trust(roots *x509.CertPool) {
	if roots != nil {
		f.http.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
}

// checkDial runs after name resolution, on the address about to be dialled.
func (f *documentFetcher) checkDial(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	if !publicAddress(ip, f.allowLoopback) {
		return fmt.Errorf("address %s is not public", ip)
	}
	return nil
}

// nonPublic are ranges that are neither private nor loopback by netip's predicates yet
// must not be reached: shared address space, benchmarking, documentation, reserved, and
// IPv6 prefixes that embed IPv4 addresses.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "240.0.0.0/4", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
		"2002::/16", "fec0::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// publicAddress reports whether ip may be fetched from: not private, link-local,
// multicast, unspecified or reserved, and loopback only when allowed.
func publicAddress(ip netip.Addr, allowLoopback bool) bool {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return allowLoopback
	case !ip.IsValid(), ip.IsUnspecified(), ip.IsPrivate(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(),
		ip.IsInterfaceLocalMulticast(), ip.IsMulticast():
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// checkDocumentURL checks a client id URL as the metadata document specification asks:
// https, a host, a path, no fragment, no credentials and no dot segments. An address
// literal must be public. Plain http is accepted only for a loopback host when loopback
// documents are allowed.
func (f *documentFetcher) checkDocumentURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > maxURILen || u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("the client id must be an absolute https URL without fragment or credentials")
	}
	loopback := isLoopbackHost(u.Hostname())
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback && f.allowLoopback) {
		return nil, errors.New("the client id URL must use https")
	}
	if u.Path == "" || u.Path == "/" {
		return nil, errors.New("the client id URL must have a path")
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return nil, errors.New("the client id URL must not contain dot segments")
		}
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !publicAddress(ip, f.allowLoopback) {
		return nil, fmt.Errorf("the client id URL points at a non-public address (%s)", ip)
	}
	if loopback && !f.allowLoopback {
		return nil, errors.New("the client id URL points at a loopback host")
	}
	return u, nil
}

// get returns the validated metadata of a client id URL.
func (f *documentFetcher) get(ctx context.Context, id string) (*ClientMetadata, error) {
	now := f.now()
	f.mu.Lock()
	c, ok := f.cache[id]
	f.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.meta, nil
	}
	u, err := f.checkDocumentURL(id)
	if err != nil {
		return nil, err
	}
	meta, ttl, err := f.fetch(ctx, u, id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.cache) >= docCacheEntries {
		for k, v := range f.cache {
			if !now.Before(v.expires) || len(f.cache) >= docCacheEntries {
				delete(f.cache, k)
			}
		}
	}
	f.cache[id] = cachedDocument{meta: meta, expires: now.Add(ttl)}
	return meta, nil
}

// fetch downloads and validates a document and says how long it may be cached.
func (f *documentFetcher) fetch(ctx context.Context, u *url.URL, id string) (*ClientMetadata, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fetching %s failed: %w", id, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("fetching %s answered %d, want 200 (redirects are not followed)", id, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s failed: %w", id, err)
	}
	if int64(len(body)) > f.maxBytes {
		return nil, 0, fmt.Errorf("the document at %s is larger than %d bytes", id, f.maxBytes)
	}
	meta, err := parseDocument(body, id)
	if err != nil {
		return nil, 0, err
	}
	return meta, cacheTTL(resp.Header.Get("Cache-Control")), nil
}

// parseDocument validates a metadata document: a JSON object whose client_id is the URL
// it came from, with a name and redirect URIs and no client secret.
func parseDocument(body []byte, id string) (*ClientMetadata, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, errors.New("the document is not a JSON object")
	}
	for _, forbidden := range []string{"client_secret", "client_secret_expires_at"} {
		if _, ok := fields[forbidden]; ok {
			return nil, fmt.Errorf("the document must not contain %s", forbidden)
		}
	}
	var meta ClientMetadata
	if err := json.Unmarshal(body, &meta); err != nil {
		return nil, fmt.Errorf("the document does not hold valid client metadata: %w", err)
	}
	switch {
	case meta.ClientID != id:
		return nil, fmt.Errorf("the document's client_id %q is not its URL", meta.ClientID)
	case meta.ClientName == "":
		return nil, errors.New("the document has no client_name")
	}
	if err := meta.normalize(true); err != nil {
		var re *registrationError
		if errors.As(err, &re) {
			return nil, errors.New(re.description)
		}
		return nil, err
	}
	return &meta, nil
}

// cacheTTL reads max-age from Cache-Control within the cache bounds; no-store and no-cache
// keep a document only for the minimum, so one authorization does not fetch it repeatedly.
func cacheTTL(header string) time.Duration {
	ttl := docCacheDefault
	for _, d := range strings.Split(header, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return docCacheMin
		case strings.HasPrefix(d, "max-age="):
			if s, err := strconv.Atoi(strings.TrimPrefix(d, "max-age=")); err == nil {
				ttl = time.Duration(s) * time.Second
			}
		}
	}
	return min(max(ttl, docCacheMin), docCacheMax)
}

// unwrapURLError drops the method and URL that net/http repeats in its errors.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
