package main

import "testing"

func TestVersionDefaults(t *testing.T) {
	if version == "" || commit == "" {
		t.Fatal("version and commit must have defaults")
	}
}
