package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthz(t *testing.T) {
	rec := httptest.NewRecorder()
	handler("test").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("GET /healthz: status %d, want %d", rec.Code, http.StatusNoContent)
	}
}

func TestGreeting(t *testing.T) {
	rec := httptest.NewRecorder()
	handler("1.2.3").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	var body map[string]string
	if err := json.NewDecoder(rec.Body).Decode(&body); err != nil {
		t.Fatalf("GET /: %v", err)
	}
	if body["version"] != "1.2.3" || body["service"] != "example-service" {
		t.Fatalf("GET /: unexpected body %v", body)
	}
}
