package channel

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A registry that sends headers and then stalls in the body does not hold a machine:
// the fetch times out as "unavailable" (exit 5, try later). (Not an end-to-end test: a
// stalling server is what a real registry cannot be made to be.)
func TestStalledRegistry(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("a", 64))
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"schemaVe`))
		w.(http.Flusher).Flush()
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stop)
	ref, err := ParseRef(strings.TrimPrefix(srv.URL, "http://") + "/patchkit/libfoo:stable")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), ref, &Options{PlainHTTP: true, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, p := testKey(t)
	start := time.Now()
	_, err = FetchIndex(context.Background(), r, p)
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != KindUnavailable || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("got %v, want an unavailable timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %s", d)
	}
}
