package main

import (
	"net/http"

	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/datadir"
)

// logKeyInstance is the log attribute that names the replica on every
// line serve logs.
const logKeyInstance = "instance"

// instanceHeader names the replica on every admin API response, /readyz
// and /healthz included, so an operator behind a load balancer sees which
// replica answered.
const instanceHeader = "Scopegate-Instance"

// instanceID returns the replica's instance id: cfg.InstanceID, or the one
// generated once and kept in the data directory.
func instanceID(cfg *config.Config) (string, error) {
	dir, err := datadir.Open(cfg.DataDir)
	if err != nil {
		return "", err
	}
	return dir.InstanceID(cfg.InstanceID)
}

// withInstanceHeader sets instanceHeader on every response of h.
func withInstanceHeader(id string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(instanceHeader, id)
		h.ServeHTTP(w, r)
	})
}
