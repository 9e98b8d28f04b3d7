// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgrouppath

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const (
	cid  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	uid  = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
	uidU = "0b1c2d3e_4f50_6172_8394_a5b6c7d8e9f0"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		path string
		want Identity
	}{
		{"root", "/", Identity{}},
		{"empty", "", Identity{}},
		{"host service", "/system.slice/sshd.service", Identity{}},
		{"user session", "/user.slice/user-0.slice/session-3.scope", Identity{}},
		{"containerd systemd burstable", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope", Identity{cid, uid}},
		{"containerd systemd guaranteed", "/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope", Identity{cid, uid}},
		{"crio systemd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-" + cid + ".scope", Identity{cid, uid}},
		{"crio conmon is not the container", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-conmon-" + cid + ".scope", Identity{"", uid}},
		{"docker systemd in pod", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/docker-" + cid + ".scope", Identity{cid, uid}},
		{"cgroupfs burstable", "/kubepods/burstable/pod" + uid + "/" + cid, Identity{cid, uid}},
		{"cgroupfs guaranteed", "/kubepods/pod" + uid + "/" + cid, Identity{cid, uid}},
		{"cgroupfs crio", "/kubepods/besteffort/pod" + uid + "/crio-" + cid, Identity{cid, uid}},
		{"pod sandbox level only", "/kubepods/burstable/pod" + uid, Identity{"", uid}},
		{"docker cgroupfs", "/docker/" + cid, Identity{cid, ""}},
		{"docker systemd", "/system.slice/docker-" + cid + ".scope", Identity{cid, ""}},
		{"podman", "/machine.slice/libpod-" + cid + ".scope", Identity{cid, ""}},
		{"nested under a test slice", "/vigil-test.slice/kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope", Identity{cid, uid}},
		{"upper-case hex is not an id", "/docker/" + strings.ToUpper(cid), Identity{}},
		{"short id", "/docker/" + cid[:63], Identity{}},
		{"bad uid", "/kubepods/pod" + uid[:35] + "x/" + cid, Identity{cid, ""}},
		{"slice not under kubepods", "/system-pod" + uidU + ".slice", Identity{}},
		{"upper-case uid normalised", "/kubepods/pod" + strings.ToUpper(uid) + "/" + cid, Identity{cid, uid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, Parse(tt.path))
		})
	}
}

// FuzzParse checks that Parse never panics and only returns well-formed
// identities: a 64-hex container id and a dashed lower-case UUID.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"/", "", "/kubepods/pod" + uid + "/" + cid,
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope",
		"/docker/" + cid, "///pod/", "/kubepods-pod.slice", "/crio-conmon-" + cid + ".scope",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		id := Parse(path)
		if id.ContainerID != "" && (len(id.ContainerID) != 64 || !isHex(id.ContainerID) || !strings.Contains(path, id.ContainerID)) {
			t.Fatalf("bad container id %q from %q", id.ContainerID, path)
		}
		if id.PodUID != "" {
			if _, ok := normaliseUID(id.PodUID); !ok || strings.Contains(id.PodUID, "_") {
				t.Fatalf("bad pod uid %q from %q", id.PodUID, path)
			}
		}
	})
}
