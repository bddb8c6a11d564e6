package main

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// adoptOrphans makes the supervisor the child subreaper of everything
// below it: a process whose parent dies is re-parented to the supervisor,
// not to init, so nothing the command starts (double forks and setsid
// daemons included) can leave the tree the supervisor stops.
func adoptOrphans() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// descendants lists the live processes below pid (zombies are dead and
// left out), from one scan of /proc. A process may fork between the scan
// and a signal; stopping therefore repeats until a scan finds nothing.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, ent := range ents {
		p, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + ent.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := children[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out
}

// signalTree sends sig to every process below the supervisor, and to the
// command's process group (pgid), which also reaches a process forked
// since the scan. It returns how many processes it found.
func signalTree(pgid int, sig unix.Signal) int {
	_ = unix.Kill(-pgid, sig)
	pids := descendants(os.Getpid())
	for _, p := range pids {
		_ = unix.Kill(p, sig)
	}
	return len(pids)
}

// treeAlive reports how many processes below the supervisor still live.
func treeAlive(pgid int) int {
	return len(descendants(os.Getpid()))
}
