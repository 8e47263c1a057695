package actionharness

import (
	"strings"
	"testing"
)

func testEnv(failed bool) *evalEnv {
	inputs := newObject("inputs", true)
	inputs.props["sign"] = "true"
	inputs.props["policy"] = ""
	inputs.props["tsa-url"] = "https://tsa.example"
	outs := newObject("steps.build.outputs", false)
	outs.props["digest"] = "sha256:abc"
	build := newObject("steps.build", true)
	build.props["outputs"], build.props["outcome"], build.props["conclusion"] = outs, "success", "success"
	steps := newObject("steps", true)
	steps.props["build"] = build
	steps.props["later"] = nil
	env := newObject("env", false)
	env.props["MODE"] = "Max"
	gh := newObject("github", true)
	gh.props["action_path"] = "/actions/imgsign"
	gh.props["ref"] = "refs/heads/main"
	return &evalEnv{contexts: map[string]any{"inputs": inputs, "steps": steps, "env": env, "github": gh}, status: status{failed: failed}}
}

func TestInterpolate(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"plain", "plain"},
		{"${{ inputs.sign }}", "true"},
		{"${{ inputs.tsa-url }}", "https://tsa.example"},
		{"${{ github.action_path }}/go.mod", "/actions/imgsign/go.mod"},
		{"a-${{ steps.build.outputs.digest }}-b-${{ env.MODE }}", "a-sha256:abc-b-Max"},
		{"${{ steps.build.outputs.missing }}", ""},
		{"${{ steps.later.outputs.x }}", ""},
		{"${{ env.UNSET }}", ""},
		{"${{ inputs.policy || 'none' }}", "none"},
		{"${{ inputs.sign || 'none' }}", "true"},
		{"${{ inputs.sign && 'yes' }}", "yes"},
		{"${{ inputs.policy && 'yes' }}", ""},
		{"${{ 'it''s' }}", "it's"},
		{"${{ 'a}}b' }}", "a}}b"},
		{"${{ 42 }}", "42"},
		{"${{ 1.5 }}", "1.5"},
		{"${{ null }}", ""},
		{"${{ true }}", "true"},
		{"${{ steps['build'].outputs['digest'] }}", "sha256:abc"},
		{"${{ STEPS.Build.Outputs.DIGEST }}", "sha256:abc"},
	}
	for _, tt := range tests {
		got, err := testEnv(false).interpolate(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%q = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestConditions(t *testing.T) {
	tests := []struct {
		cond   string
		failed bool
		want   bool
	}{
		{"", false, true},
		{"", true, false},
		{"inputs.sign == 'true'", false, true},
		{"inputs.sign == 'TRUE'", false, true}, // strings compare case-insensitively
		{"inputs.sign == true", false, false},  // 'true' → NaN as a number
		{"${{ inputs.sign == 'true' }}", false, true},
		{"inputs.sign == 'true'", true, false}, // implicit success()
		{"always() && inputs.sign == 'true'", true, true},
		{"failure()", true, true},
		{"failure()", false, false},
		{"cancelled()", false, false},
		{"!cancelled()", true, true},
		{"inputs.policy != ''", false, false},
		{"inputs.policy != '' || steps.build.outcome == 'success'", false, true},
		{"steps.build.outputs.digest", false, true},
		{"steps.later.outputs.digest", false, false},
		{"!(inputs.policy)", false, true},
		{"1 < 2 && 'b' > 'A' && 2 >= 2 && 1 <= 0x1", false, true},
		{"'' == 0 && null == 0 && false == 0 && '1' == 1", false, true},
		{"'abc' == 0", false, false},
	}
	for _, tt := range tests {
		got, err := testEnv(tt.failed).condition(tt.cond)
		if err != nil {
			t.Errorf("%q: %v", tt.cond, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%q (failed=%v) = %v, want %v", tt.cond, tt.failed, got, tt.want)
		}
	}
}

// Anything outside the supported subset is an error, never a guess.
func TestExpressionErrors(t *testing.T) {
	tests := []struct {
		expr, want string
	}{
		{"${{ inputs.undeclared }}", "inputs.undeclared is not defined"},
		{"${{ steps.nosuch.outputs.x }}", "steps.nosuch is not defined"},
		{"${{ steps.build.output.x }}", "steps.build.output is not defined"},
		{"${{ github.no_such_thing }}", "github.no_such_thing is not defined"},
		{"${{ matrix.os }}", `context "matrix" is not supported`},
		{"${{ hashFiles('go.sum') }}", "function hashFiles() is not supported"},
		{"${{ format('{0}', inputs.sign) }}", "function format() is not supported"},
		{"${{ fromJSON(inputs.sign) }}", "function fromJSON() is not supported"},
		{"${{ steps.*.outputs }}", "unsupported character"},
		{"${{ inputs.sign ", "unterminated"},
		{"${{ 'open }}", "unterminated"},
		{"${{ steps.build }}", "is an object"},
		{"${{ inputs.sign == }}", "unexpected end"},
	}
	for _, tt := range tests {
		_, err := testEnv(false).interpolate(tt.expr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one containing %q", tt.expr, err, tt.want)
		}
	}
	for _, cond := range []string{"${{ inputs.sign }} == 'true'", "x ${{ inputs.sign }}"} {
		if _, err := testEnv(false).condition(cond); err == nil || !strings.Contains(err.Error(), "outside ${{ }}") {
			t.Errorf("if: %q: error %v, want the always-true warning", cond, err)
		}
	}
}

func TestParseFileCommand(t *testing.T) {
	got, err := parseFileCommand("a=1\nb=x=y\n\nmulti<<EOF\nline 1\n\nline=3\nEOF\nempty=\nh<<ghadelimiter_1\n\nghadelimiter_1\n")
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"a", "1"}, {"b", "x=y"}, {"multi", "line 1\n\nline=3"}, {"empty", ""}, {"h", ""}}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %q, want %q", i, got[i], want[i])
		}
	}
	// "c<<d=e": << comes first, so it is a heredoc whose delimiter "d=e" never comes.
	for _, bad := range []string{"c<<d=e\n", "novalue\n", "x<<EOF\nno end\n", "=v\n", "<<EOF\nEOF\n"} {
		if _, err := parseFileCommand(bad); err == nil {
			t.Errorf("%q parsed; want an error", bad)
		}
	}
}
