package agent

import (
	"maps"
	"reflect"
	"testing"
)

func TestMaskArguments(t *testing.T) {
	args := map[string]any{"repo": "kavach", "password": "hunter2", "token": "t"}
	orig := maps.Clone(args)

	masked, found := MaskArguments(args, []string{"password", "absent"}, "[masked]")
	if want := map[string]any{"repo": "kavach", "password": "[masked]", "token": "t"}; !reflect.DeepEqual(masked, want) || !reflect.DeepEqual(found, []string{"password"}) {
		t.Errorf("replaced: %v %v", masked, found)
	}
	removed, found := MaskArguments(args, []string{"token", "password"}, nil)
	if want := map[string]any{"repo": "kavach"}; !reflect.DeepEqual(removed, want) || !reflect.DeepEqual(found, []string{"token", "password"}) {
		t.Errorf("removed: %v %v", removed, found)
	}
	if !reflect.DeepEqual(args, orig) {
		t.Errorf("the caller's map changed: %v", args)
	}
	same, found := MaskArguments(args, []string{"absent"}, nil)
	if found != nil || reflect.ValueOf(same).Pointer() != reflect.ValueOf(args).Pointer() {
		t.Error("nothing to mask must return the map itself, uncopied")
	}
}
