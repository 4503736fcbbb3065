package main

import (
	"runtime/debug"

	"github.com/spf13/pflag"

	"github.com/kavachos/kavach-go/telemetry"
)

// telemetryConfig is where traces go. Its flags and keys read the standard OpenTelemetry
// variables, so a deployment configured for any OpenTelemetry SDK configures Kavach too;
// the exporter's other OTEL_EXPORTER_OTLP_* settings (headers, timeout, TLS) are read by
// the SDK itself.
type telemetryConfig struct {
	OTelEndpoint    string `yaml:"otelEndpoint"`
	OTelProtocol    string `yaml:"otelProtocol"`
	OTelServiceName string `yaml:"otelServiceName"`
	OTelSampler     string `yaml:"otelSampler"`
	OTelSamplerArg  string `yaml:"otelSamplerArg"`
}

var telemetryFlags = []serveFlag{
	{"otel-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT"}, {"otel-protocol", "OTEL_EXPORTER_OTLP_PROTOCOL"},
	{"otel-service-name", "OTEL_SERVICE_NAME"}, {"otel-sampler", "OTEL_TRACES_SAMPLER"},
	{"otel-sampler-arg", "OTEL_TRACES_SAMPLER_ARG"},
}

func bindTelemetryFlags(fs *pflag.FlagSet, c *telemetryConfig) {
	fs.StringVar(&c.OTelEndpoint, "otel-endpoint", "", "send OpenTelemetry traces over OTLP to this collector (a URL, or host:port); tracing is off unless this or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (env OTEL_EXPORTER_OTLP_ENDPOINT)")
	fs.StringVar(&c.OTelProtocol, "otel-protocol", "", "OTLP protocol: http/protobuf (default) or grpc (env OTEL_EXPORTER_OTLP_PROTOCOL)")
	fs.StringVar(&c.OTelServiceName, "otel-service-name", "", "service.name of the traces (default kavach) (env OTEL_SERVICE_NAME)")
	fs.StringVar(&c.OTelSampler, "otel-sampler", "", "always_on, always_off, traceidratio, parentbased_always_on (default), parentbased_always_off or parentbased_traceidratio (env OTEL_TRACES_SAMPLER)")
	fs.StringVar(&c.OTelSamplerArg, "otel-sampler-arg", "", "the ratio of the traceidratio samplers, from 0 to 1 (env OTEL_TRACES_SAMPLER_ARG)")
}

func (c telemetryConfig) config() telemetry.Config {
	return telemetry.Config{
		Endpoint: c.OTelEndpoint, Protocol: c.OTelProtocol, ServiceName: c.OTelServiceName,
		Sampler: c.OTelSampler, SamplerArg: c.OTelSamplerArg, Version: buildVersion(),
	}
}

// buildVersion is the module version the binary was built from, "(devel)" for a build in
// the source tree.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}
