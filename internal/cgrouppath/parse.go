// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package cgrouppath parses the container and pod identity out of a cgroup
// path (the kubelet's and the container runtimes' cgroup layouts). It is the
// one place where the receivers that attribute by cgroup (kernel, cgroup)
// turn a path into container.id and k8s.pod.uid, so that their resources
// join. The path is the same in cgroup v1 and v2 hierarchies.
package cgrouppath // import "github.com/vigil-otel/vigil/internal/cgrouppath"

import "strings"

// Identity is what a cgroup path says about the workload in it. Both fields
// are empty for host processes.
type Identity struct {
	ContainerID string
	PodUID      string
}

// containerPrefixes are the prefixes runtimes give the last path element
// (systemd driver: "<prefix><id>.scope"; cgroupfs driver: "<prefix><id>" or
// the bare id).
var containerPrefixes = []string{
	"cri-containerd-", // containerd CRI, systemd driver
	"crio-",           // CRI-O
	"docker-",         // docker, systemd driver
	"libpod-",         // podman
	"containerd-",
}

// Parse extracts the container id and the pod UID from a cgroup path such as
//
//	/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope   (systemd driver)
//	/kubepods/burstable/pod<uid>/<id>                                                                    (cgroupfs driver)
//	/kubepods/pod<uid>/crio-<id>                                                                         (CRI-O, cgroupfs)
//	/system.slice/docker-<id>.scope, /docker/<id>                                                         (docker)
//
// The container id is a 64-hex-digit element (with a runtime prefix and a
// .scope suffix where the driver adds them) at any depth, the last one wins;
// CRI-O's conmon scopes ("crio-conmon-<id>.scope") are the runtime monitor,
// not the container, and are skipped. The pod UID comes from an element
// "pod<uid>" (cgroupfs) or "kubepods[-<qos>]-pod<uid with _>.slice" (systemd),
// normalised to the dashed form. Paths that match nothing (host processes,
// system services) give an empty Identity.
func Parse(path string) Identity {
	var id Identity
	for elem := range strings.SplitSeq(path, "/") {
		if elem == "" {
			continue
		}
		if uid, ok := podUID(elem); ok {
			id.PodUID = uid
			continue
		}
		if cid, ok := containerID(elem); ok {
			id.ContainerID = cid
		}
	}
	return id
}

func containerID(elem string) (string, bool) {
	elem = strings.TrimSuffix(elem, ".scope")
	if strings.Contains(elem, "conmon") {
		return "", false
	}
	for _, p := range containerPrefixes {
		if rest, ok := strings.CutPrefix(elem, p); ok {
			elem = rest
			break
		}
	}
	if len(elem) != 64 || !isHex(elem) {
		return "", false
	}
	return elem, true
}

func podUID(elem string) (string, bool) {
	if rest, ok := strings.CutSuffix(elem, ".slice"); ok {
		// systemd: kubepods-pod<uid>.slice, kubepods-burstable-pod<uid>.slice
		if !strings.HasPrefix(rest, "kubepods-") {
			return "", false
		}
		i := strings.LastIndex(rest, "-pod")
		if i < 0 {
			return "", false
		}
		return normaliseUID(rest[i+len("-pod"):])
	}
	// cgroupfs: pod<uid>
	rest, ok := strings.CutPrefix(elem, "pod")
	if !ok {
		return "", false
	}
	return normaliseUID(rest)
}

// normaliseUID accepts a UUID with dashes or underscores (systemd escapes
// dashes in slice names) and returns it dashed and lower-case.
func normaliseUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' && c != '_' {
				return "", false
			}
			b[i] = '-'
		default:
			if !isHexByte(c) {
				return "", false
			}
		}
	}
	return string(b), true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexByte(s[i]) {
			return false
		}
	}
	return true
}

func isHexByte(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
}
