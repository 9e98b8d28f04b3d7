// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package netnslab

import (
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// Packet offsets of an untagged Ethernet frame carrying IPv4 without
// options, as TCX programs see it (the MAC header included).
const (
	offEtherType = 12
	offIPVerIHL  = 14
	offIPProto   = 23
	offTCPDport  = 14 + 20 + 2
	offTCPFlags  = 14 + 20 + 13

	tcpFlagSYN = 0x02

	tcActShot = 2 // TC_ACT_SHOT (TCX_DROP)
	tcxNext   = -1
)

// loadField emits r5 = the size-byte field at offset off of the packet
// (network byte order, read with bpf_skb_load_bytes, which also copes with
// headers outside the linear part); it jumps to "pass" when the packet is
// shorter. The context is in r6.
func loadField(off int32, size asm.Size) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, off),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -8),
		asm.Mov.Imm(asm.R4, int32(size.Sizeof())),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "pass"),
		asm.LoadMem(asm.R5, asm.RFP, -8, size),
	}
}

// DropEgress makes device dev of namespace ns drop pct % of the IPv4 TCP
// packets it sends to destination port port, at random, before they leave
// (a TCX egress program, Linux 6.6+); SYNs pass, so that connects do not
// time out. The sending socket sees the drop as
// NET_XMIT_DROP, like a drop by a local qdisc: a first transmission that
// fails stays queued and is sent again as new data, while a retransmission
// that fails is counted as retransmitted and in TCPRetransFail. Under
// TSO/GSO one packet here can be several segments. Detached in t.Cleanup.
func (l *Lab) DropEgress(ns, dev string, port uint16, pct int) {
	l.t.Helper()
	l.drop(ns, dev, ebpf.AttachTCXEgress, port, pct)
}

// DropIngress makes device dev of namespace ns drop pct % of the IPv4 TCP
// packets it receives for destination port port, at random, SYNs excepted (a TCX ingress
// program): loss on the wire, as the sender sees it. Detached in t.Cleanup.
func (l *Lab) DropIngress(ns, dev string, port uint16, pct int) {
	l.t.Helper()
	l.drop(ns, dev, ebpf.AttachTCXIngress, port, pct)
}

func (l *Lab) drop(ns, dev string, attach ebpf.AttachType, port uint16, pct int) {
	l.t.Helper()
	if pct < 0 || pct > 100 {
		l.t.Fatalf("netnslab: drop pct %d out of [0, 100]", pct)
	}
	// Network byte order, as the 16-bit loads read it on this
	// little-endian host.
	be16 := func(v uint16) int32 { return int32(v>>8 | v<<8&0xff00) }
	var insns asm.Instructions
	insns = append(insns,
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R6),
	)
	insns = append(insns, loadField(offEtherType, asm.Half)...)
	insns = append(insns, asm.JNE.Imm(asm.R5, be16(0x0800), "pass"))
	insns = append(insns, loadField(offIPVerIHL, asm.Byte)...)
	insns = append(insns, asm.JNE.Imm(asm.R5, 0x45, "pass")) // IPv4, 20-byte header
	insns = append(insns, loadField(offIPProto, asm.Byte)...)
	insns = append(insns, asm.JNE.Imm(asm.R5, 6, "pass")) // TCP
	insns = append(insns, loadField(offTCPDport, asm.Half)...)
	insns = append(insns, asm.JNE.Imm(asm.R5, be16(port), "pass"))
	insns = append(insns, loadField(offTCPFlags, asm.Byte)...)
	insns = append(insns,
		asm.JSet.Imm(asm.R5, tcpFlagSYN, "pass"), // handshakes go through
		asm.FnGetPrandomU32.Call(),
		asm.Mod.Imm(asm.R0, 100),
		asm.JGE.Imm(asm.R0, int32(pct), "pass"),
		asm.Mov.Imm(asm.R0, tcActShot),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcxNext).WithSymbol("pass"),
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "vigil_lab_drop",
		Type:         ebpf.SchedCLS,
		Instructions: insns,
		License:      "Dual BSD/GPL",
	})
	if err != nil {
		l.t.Fatalf("netnslab: loading the drop program: %v", err)
	}
	var lk link.Link
	err = InNetns(ns, func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		lk, err = link.AttachTCX(link.TCXOptions{Interface: ifc.Index, Program: prog, Attach: attach})
		return err
	})
	if err != nil {
		prog.Close()
		l.t.Fatalf("netnslab: attaching to %s in %s: %v", dev, ns, err)
	}
	l.t.Cleanup(func() {
		_ = lk.Close()
		_ = prog.Close()
	})
}
