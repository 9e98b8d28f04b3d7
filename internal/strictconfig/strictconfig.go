// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package strictconfig rejects configuration keys that no field of a
// component's config takes.
//
// The collector's decoder rejects unknown keys by itself, except in a config
// that squashes a struct implementing confmap.Unmarshaler (such as
// confighttp.ClientConfig): decoding then goes through that Unmarshal, which
// switches the check off for the whole component, so a typo such as
// `line_fromat: json` is ignored (collector issue #15907). A component with
// such a config implements confmap.Unmarshaler itself and calls Unmarshal
// here, which checks every key against the config's type before decoding.
package strictconfig // import "github.com/vigil-otel/vigil/internal/strictconfig"

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// Unmarshal checks that every key of conf names a field of cfg's type (cfg is
// a pointer to a config struct), then decodes conf into cfg. The error names
// every unknown key by its full path, as the collector's own check does.
//
// It must be called from cfg's own Unmarshal method: the decoder does not
// call a target's Unmarshal method for the top-level value, so there is no
// recursion.
func Unmarshal(conf *confmap.Conf, cfg any) error {
	if unknown := UnknownKeys(conf, reflect.TypeOf(cfg)); len(unknown) > 0 {
		return fmt.Errorf("'%s' has invalid keys: %s", reflect.TypeOf(cfg).Elem(), strings.Join(unknown, ", "))
	}
	return conf.Unmarshal(cfg)
}

// UnknownKeys returns, sorted, the keys of conf (with their path, "::"
// separated) that no field of t takes.
func UnknownKeys(conf *confmap.Conf, t reflect.Type) []string {
	var unknown []string
	for _, key := range conf.AllKeys() {
		path := strings.Split(key, confmap.KeyDelimiter)
		if n := known(t, path); n < len(path) {
			unknown = append(unknown, strings.Join(path[:n+1], confmap.KeyDelimiter))
		}
	}
	slices.Sort(unknown)
	return slices.Compact(unknown)
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// known returns how many leading elements of path t takes: len(path) when
// all of them, else the index of the first unknown one.
func known(t reflect.Type, path []string) int {
	for i, name := range path {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if reflect.PointerTo(t).Implements(textUnmarshaler) {
			return len(path) // a scalar in the YAML: the decoder judges it
		}
		switch t.Kind() {
		case reflect.Map:
			t = t.Elem() // any key
		case reflect.Struct:
			if inner, ok := optionalValue(t); ok {
				if name == "enabled" && i == len(path)-1 {
					return len(path)
				}
				t = inner
				if n := known(t, path[i:]); n < len(path)-i {
					return i + n
				}
				return len(path)
			}
			f, ok := field(t, name)
			if !ok {
				return i
			}
			t = f
		default:
			// Lists, interfaces and scalars: what lies below is the
			// decoder's to judge (a list's items are not flattened).
			return len(path)
		}
	}
	return len(path)
}

// field returns the type of t's field that the YAML key name sets, looking
// through squashed fields.
func field(t reflect.Type, name string) (reflect.Type, bool) {
	for f := range t.Fields() {
		tag, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		switch {
		case tag == "-":
		case strings.Contains(opts, "squash"):
			inner := f.Type
			for inner.Kind() == reflect.Pointer {
				inner = inner.Elem()
			}
			if ft, ok := field(inner, name); ok {
				return ft, true
			}
		case tag == "" && f.IsExported() && strings.EqualFold(f.Name, name):
			return f.Type, true
		case tag == name:
			return f.Type, true
		}
	}
	return nil, false
}

// optionalValue reports whether t is a configoptional.Optional[T], and T.
// Optional keeps T in its unexported field `value` and takes an `enabled`
// key besides T's own.
func optionalValue(t reflect.Type) (reflect.Type, bool) {
	if t.PkgPath() != "go.opentelemetry.io/collector/config/configoptional" || !strings.HasPrefix(t.Name(), "Optional[") {
		return nil, false
	}
	f, ok := t.FieldByName("value")
	if !ok {
		return nil, false
	}
	return f.Type, true
}
