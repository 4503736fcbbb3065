package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeTelemetrySettings: the OpenTelemetry settings come from the YAML keys, then the
// standard OTEL_* variables, then the flags.
func TestServeTelemetrySettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kavach.yaml")
	writeFile(t, file, "otelEndpoint: http://file:4318\notelServiceName: from-file\notelSampler: traceidratio\notelSamplerArg: \"0.5\"\n")
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"} {
		t.Setenv(k, "")
	}
	c, err := parseServe(t, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Telemetry.config(); got.Endpoint != "http://file:4318" || got.ServiceName != "from-file" || got.Sampler != "traceidratio" || got.SamplerArg != "0.5" {
		t.Errorf("from the file: %+v", got)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	if c, err = parseServe(t, "--config", file); err != nil || c.Telemetry.OTelEndpoint != "http://env:4318" || c.Telemetry.OTelProtocol != "grpc" {
		t.Errorf("the environment over the file: %+v, %v", c.Telemetry, err)
	}
	if c, err = parseServe(t, "--config", file, "--otel-endpoint", "http://flag:4318", "--otel-sampler-arg", "0.01"); err != nil ||
		c.Telemetry.OTelEndpoint != "http://flag:4318" || c.Telemetry.OTelSamplerArg != "0.01" {
		t.Errorf("the flags over the environment: %+v, %v", c.Telemetry, err)
	}
}

// TestServeRefusesABadSampler: a sampler that cannot be read stops the server before it
// opens the database, naming the setting, rather than tracing with a default.
func TestServeRefusesABadSampler(t *testing.T) {
	dir := t.TempDir()
	c, err := parseServe(t, "--listen", "127.0.0.1:0", "--database", "sqlite://"+filepath.Join(dir, "kavach.db"),
		"--otel-endpoint", "http://127.0.0.1:1", "--otel-sampler", "sometimes")
	if err != nil {
		t.Fatal(err)
	}
	err = serve(context.Background(), c, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `sampler "sometimes"`) {
		t.Fatalf("serve = %v, want the sampler refused", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kavach.db")); !os.IsNotExist(err) {
		t.Errorf("a refused start left a database behind: %v", err)
	}
}
