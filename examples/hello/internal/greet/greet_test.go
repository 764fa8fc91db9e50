package greet

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestGreeting(t *testing.T) {
	cases := map[string]string{
		"":        "Hello, world!",
		"  ":      "Hello, world!",
		"gopher":  "Hello, gopher!",
		" gopher": "Hello, gopher!",
	}
	for in, want := range cases {
		if got := Greeting(in); got != want {
			t.Errorf("Greeting(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler("v1.2.3"))
	defer srv.Close()

	for path, want := range map[string]string{
		"/hello?name=ci": "Hello, ci!",
		"/version":       "v1.2.3",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		found := false
		for _, v := range body {
			found = found || v == want
		}
		if !found {
			t.Errorf("GET %s = %v, want a value %q", path, body, want)
		}
	}

	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %d", resp.StatusCode)
	}
}
