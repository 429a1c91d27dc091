package clusterset

import (
	"fmt"
	"slices"
	"strings"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/go-logr/logr"
)

// log writes "[INFO] plugin/clusterset: ..." lines, as every CoreDNS plugin does.
var log = clog.NewWithPlugin(pluginName)

// klogLogger writes client-go's klog lines through log. The plugin's informers get it in their
// options and their context, so their lines name this plugin. klog's process-wide logger is left
// alone: the kubernetes plugin sets it in its setup, and setting it while informers run is a
// data race in klog.
var klogLogger = logr.New(klogSink{})

// apiWarnings logs the warnings of the apiserver (deprecations, for example) through log; by
// default client-go writes them with klog's process-wide logger.
type apiWarnings struct{}

func (apiWarnings) HandleWarningHeader(code int, _, text string) {
	if code == 299 && text != "" {
		log.Warning(text)
	}
}

// klogSink is the logr.LogSink behind klogLogger: a message followed by its key/value pairs.
type klogSink struct {
	values []any // always even-length
}

func (klogSink) Init(logr.RuntimeInfo) {}

// Enabled passes client-go's default-level lines, and its verbose ones with the debug plugin.
func (klogSink) Enabled(level int) bool { return level <= 0 || clog.D.Value() }

func (s klogSink) Info(_ int, msg string, kv ...any) { log.Info(s.format(msg, nil, kv)) }

func (s klogSink) Error(err error, msg string, kv ...any) { log.Error(s.format(msg, err, kv)) }

func (s klogSink) WithValues(kv ...any) logr.LogSink {
	s.values = append(slices.Clip(s.values), kv...)
	if len(s.values)%2 != 0 {
		s.values = append(s.values, "(MISSING)") // as klog pads a key without a value
	}
	return s
}

func (s klogSink) WithName(string) logr.LogSink { return s }

// format renders msg, the error and the key/value pairs as klog's text format does:
// msg: err key="string" key=value.
func (s klogSink) format(msg string, err error, kv []any) string {
	var b strings.Builder
	b.WriteString(msg)
	if err != nil {
		b.WriteString(": " + err.Error())
	}
	all := append(slices.Clip(s.values), kv...)
	for i := 0; i < len(all); i += 2 {
		var v any = "(MISSING)"
		if i+1 < len(all) {
			v = all[i+1]
		}
		switch v := v.(type) {
		case string:
			fmt.Fprintf(&b, " %v=%q", all[i], v)
		case error:
			fmt.Fprintf(&b, " %v=%q", all[i], v.Error())
		default:
			fmt.Fprintf(&b, " %v=%v", all[i], v)
		}
	}
	return b.String()
}
