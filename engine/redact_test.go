package engine

import "testing"

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:s3cret@bundles.example/b.tar.gz":                        "https://user:xxxxx@bundles.example/b.tar.gz",
		"https://bucket.s3.example/b.tar.gz?X-Amz-Signature=abc&X-Amz-Date=1": "https://bucket.s3.example/b.tar.gz?redacted",
		"https://bundles.example/b.tar.gz#frag":                               "https://bundles.example/b.tar.gz",
		"http://127.0.0.1:8181/bundle.tar.gz":                                 "http://127.0.0.1:8181/bundle.tar.gz",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
