package powerfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

const pageSize = 4096

// FS is one mounted power-loss file system.
type FS struct {
	backing, mnt string

	mu     sync.Mutex // serialises writes, truncations and fsyncs with PowerLoss
	server *fuse.Server
	conn   uint32                 // the FUSE connection's number under /sys/fs/fuse/connections
	files  map[uint64]*unsynced   // backing inode -> what its writes since the last fsync overwrote
	inodes map[uint64]*gofs.Inode // backing inode -> the kernel's inode, to drop its caches
	last   *lastWrite             // the newest write not yet fsynced
	off    bool                   // the power is off: writes, truncations and fsyncs fail with EIO
}

// unsynced is one file's state at its last fsync, as far as later writes
// changed it.
type unsynced struct {
	size  int64            // the file's size at its last fsync
	pages map[int64][]byte // page index -> content at the last fsync (pages below size only)
}

type lastWrite struct {
	ino  uint64
	off  int64
	data []byte
}

// Loss is what one PowerLoss undid.
type Loss struct {
	Files     int   // files rolled back to their last fsync
	Pages     int   // pages restored
	TornBytes int   // bytes of the last unsynced write kept (-1: there was none)
	TornOf    int   // that write's length
	Truncated int64 // bytes cut off files that had grown since their last fsync
}

// Mount serves backing at mountpoint (both directories must exist).
func Mount(backing, mountpoint string) (*FS, error) {
	f := &FS{backing: backing, mnt: mountpoint}
	if err := f.mount(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *FS) mount() error {
	var st syscall.Stat_t
	if err := syscall.Stat(f.backing, &st); err != nil {
		return fmt.Errorf("powerfs: %s: %w", f.backing, err)
	}
	root := &gofs.LoopbackRoot{Path: f.backing, Dev: uint64(st.Dev)}
	root.NewNode = func(r *gofs.LoopbackRoot, _ *gofs.Inode, _ string, _ *syscall.Stat_t) gofs.InodeEmbedder {
		return &node{LoopbackNode: gofs.LoopbackNode{RootData: r}, fs: f}
	}
	root.RootNode = root.NewNode(root, nil, "", &st)
	server, err := gofs.Mount(f.mnt, root.RootNode, &gofs.Options{MountOptions: fuse.MountOptions{
		AllowOther: true, DirectMount: true, FsName: "powerfs:" + f.backing, Name: "powerfs", MaxWrite: 1 << 20,
	}})
	if err != nil {
		return fmt.Errorf("powerfs: mount %s (needs root and /dev/fuse): %w", f.mnt, err)
	}
	var mst syscall.Stat_t
	if err := syscall.Stat(f.mnt, &mst); err != nil {
		server.Unmount()
		return fmt.Errorf("powerfs: %s: %w", f.mnt, err)
	}
	f.mu.Lock()
	f.server, f.conn, f.files, f.inodes, f.last = server, unix.Minor(mst.Dev), map[uint64]*unsynced{}, map[uint64]*gofs.Inode{}, nil
	f.mu.Unlock()
	return nil
}

// Unmount ends the mount; the backing directory keeps every write. Every
// process using the mount must have stopped. A copy of the mount in another
// mount namespace (`ip netns exec` makes one of every mount for each process
// it starts, and this host's root mount does not propagate unmounts) would
// keep the connection open for as long as that namespace lives; after 10 s
// the connection is aborted instead, which ends every copy.
func (f *FS) Unmount() error {
	f.mu.Lock()
	s, conn := f.server, f.conn
	f.server = nil
	f.mu.Unlock()
	if s == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- s.Unmount() }()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
	case <-time.After(10 * time.Second):
	}
	abortErr := abort(conn)
	syscall.Unmount(f.mnt, syscall.MNT_DETACH)
	select {
	case <-done:
		return abortErr
	case <-time.After(10 * time.Second):
		return fmt.Errorf("powerfs: unmount %s: the FUSE connection %d did not end (abort: %v)", f.mnt, conn, abortErr)
	}
}

// abort ends FUSE connection conn through fusectl, mounting fusectl first
// if it is not.
func abort(conn uint32) error {
	const ctl = "/sys/fs/fuse/connections"
	p := filepath.Join(ctl, fmt.Sprint(conn), "abort")
	if _, err := os.Stat(p); err != nil {
		if err := syscall.Mount("fusectl", ctl, "fusectl", 0, ""); err != nil && !errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("powerfs: mount fusectl: %w", err)
		}
	}
	return os.WriteFile(p, []byte("1"), 0o200)
}

// PowerLoss cuts the power at one instant: from then on every write,
// truncation and fsync fails with EIO (an fsync that was still running
// completes first and counts). It then calls kill, which must end every
// process using the mount, and restores every page written
// since its file's last fsync, cuts files back to their size at that fsync,
// keeps a prefix of the newest unsynced write chosen by rng (nil: none of
// it), and makes the kernel drop what it cached of those files. The mount
// stays: unmounting could wait on copies of it in other namespaces.
func (f *FS) PowerLoss(rng *rand.Rand, kill func() error) (Loss, error) {
	if err := f.Cut(); err != nil {
		return Loss{TornBytes: -1}, err
	}
	// Not under mu: the dying process's requests may be waiting for it.
	if err := kill(); err != nil {
		f.mu.Lock()
		f.off = false
		f.mu.Unlock()
		return Loss{TornBytes: -1}, fmt.Errorf("powerfs: power loss on %s: %w", f.backing, err)
	}
	return f.Restore(rng)
}

// Cut is the instant of a power loss: from now on every write, truncation
// and fsync fails with EIO. Several FS can be cut together before their
// processes are killed (a coordinated power loss); Restore follows.
func (f *FS) Cut() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.server == nil {
		return fmt.Errorf("powerfs: %s is not mounted", f.mnt)
	}
	f.off = true
	return nil
}

// Restore is what the disk holds when the power comes back, once every
// process using the mount is dead: see PowerLoss. It turns the power on.
func (f *FS) Restore(rng *rand.Rand) (Loss, error) {
	loss := Loss{TornBytes: -1}
	f.mu.Lock()
	defer f.mu.Unlock()
	defer func() { f.off = false }()
	files, last := f.files, f.last
	f.files, f.last = map[uint64]*unsynced{}, nil
	paths, err := inodePaths(f.backing)
	if err != nil {
		return loss, err
	}
	var errs []error
	for ino, u := range files {
		p, ok := paths[ino]
		if !ok {
			continue // unlinked since: nothing of it is left to restore
		}
		n, cut, err := rollBack(p, u)
		loss.Pages += n
		loss.Truncated += cut
		loss.Files++
		errs = append(errs, err)
	}
	if last != nil && rng != nil && len(last.data) > 0 {
		if p, ok := paths[last.ino]; ok {
			k := rng.IntN(len(last.data))
			loss.TornBytes, loss.TornOf = k, len(last.data)
			errs = append(errs, writeAt(p, last.data[:k], last.off))
		}
	}
	for ino := range files {
		if in := f.inodes[ino]; in != nil {
			in.NotifyContent(0, 0) // pages and attributes; ENOENT if the kernel forgot it already
		}
	}
	if err := errors.Join(errs...); err != nil {
		return loss, fmt.Errorf("powerfs: power loss on %s: %w", f.backing, err)
	}
	return loss, nil
}

func rollBack(path string, u *unsynced) (pages int, cut int64, err error) {
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, err
	}
	defer fh.Close()
	for pg, b := range u.pages {
		if _, err := fh.WriteAt(b, pg*pageSize); err != nil {
			return pages, 0, err
		}
		pages++
	}
	st, err := fh.Stat()
	if err != nil {
		return pages, 0, err
	}
	if st.Size() != u.size {
		cut = st.Size() - u.size
		if err := fh.Truncate(u.size); err != nil {
			return pages, 0, err
		}
	}
	return pages, cut, fh.Sync()
}

func writeAt(path string, b []byte, off int64) error {
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer fh.Close()
	if _, err := fh.WriteAt(b, off); err != nil {
		return err
	}
	return fh.Sync()
}

// inodePaths maps every regular file under dir by inode number.
func inodePaths(dir string) (map[uint64]string, error) {
	out := map[uint64]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			out[st.Ino] = p
		}
		return nil
	})
	return out, err
}

// overwrite records, before a write of n bytes at off (or a truncation to
// off, n = -1), what it is about to change. Callers hold f.mu.
func (f *FS) overwrite(fd int, ino uint64, off, n int64) error {
	u := f.files[ino]
	if u == nil {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return err
		}
		u = &unsynced{size: st.Size, pages: map[int64][]byte{}}
		f.files[ino] = u
	}
	end := off + n
	if n < 0 { // a truncation changes everything from off to the synced end
		end = u.size
	}
	for pg := off / pageSize; pg*pageSize < min(end, u.size); pg++ {
		if _, ok := u.pages[pg]; ok {
			continue
		}
		b := make([]byte, min(pageSize, u.size-pg*pageSize))
		k, err := syscall.Pread(fd, b, pg*pageSize)
		if err != nil {
			return err
		}
		u.pages[pg] = b[:k] // short only if the file shrank below u.size; the truncation saved the rest
	}
	return nil
}

// synced forgets what fd's file had unsynced: an fsync made it durable.
// Callers hold f.mu.
func (f *FS) synced(ino uint64) {
	delete(f.files, ino)
	if f.last != nil && f.last.ino == ino {
		f.last = nil
	}
}

// node is a loopback node whose files are opened through handle.
type node struct {
	gofs.LoopbackNode
	fs *FS
}

var (
	_ gofs.NodeOpener    = (*node)(nil)
	_ gofs.NodeCreater   = (*node)(nil)
	_ gofs.NodeSetattrer = (*node)(nil)
)

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		if errno := n.truncating(0); errno != 0 {
			return nil, 0, errno
		}
	}
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	h, errno := n.fs.handle(fh, n.EmbeddedInode())
	return h, fl, errno
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		if in := n.Inode.GetChild(name); in != nil {
			if child, ok := in.Operations().(*node); ok {
				if errno := child.truncating(0); errno != 0 {
					return nil, nil, 0, errno
				}
			}
		}
	}
	in, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	h, errno := n.fs.handle(fh, in)
	return in, h, fl, errno
}

func (n *node) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if sz, ok := in.GetSize(); ok {
		if errno := n.truncating(int64(sz)); errno != 0 {
			return errno
		}
	}
	if h, ok := f.(*handle); ok {
		f = h.lf
	}
	return n.LoopbackNode.Setattr(ctx, f, in, out)
}

// truncating records what a truncation of the node's file to size changes.
// It keeps f.mu locked only for the recording: the truncation itself runs
// after, which is safe because the pages it removes are saved already.
func (n *node) truncating(size int64) syscall.Errno {
	p := filepath.Join(n.RootData.Path, n.Path(nil))
	fd, err := syscall.Open(p, syscall.O_RDONLY, 0)
	if errors.Is(err, syscall.ENOENT) {
		return 0
	}
	if err != nil {
		return gofs.ToErrno(err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return gofs.ToErrno(err)
	}
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	if n.fs.off {
		return syscall.EIO
	}
	return gofs.ToErrno(n.fs.overwrite(fd, st.Ino, size, -1))
}

// handle is an open file: reads pass through, writes are recorded first,
// fsync forgets the record. It deliberately has no PassthroughFd, so the
// kernel sends every write here.
type handle struct {
	lf  *gofs.LoopbackFile
	fd  int
	ino uint64
	fs  *FS
}

func (f *FS) handle(fh gofs.FileHandle, in *gofs.Inode) (*handle, syscall.Errno) {
	lf, ok := fh.(*gofs.LoopbackFile)
	if !ok {
		return nil, syscall.EIO
	}
	fd, ok := lf.PassthroughFd() // only to learn the descriptor; not handed to the kernel
	if !ok {
		lf.Release(context.Background())
		return nil, syscall.EBADF
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		lf.Release(context.Background())
		return nil, gofs.ToErrno(err)
	}
	f.mu.Lock()
	f.inodes[st.Ino] = in
	f.mu.Unlock()
	return &handle{lf: lf, fd: fd, ino: st.Ino, fs: f}, 0
}

var (
	_ gofs.FileReader    = (*handle)(nil)
	_ gofs.FileWriter    = (*handle)(nil)
	_ gofs.FileFsyncer   = (*handle)(nil)
	_ gofs.FileFlusher   = (*handle)(nil)
	_ gofs.FileReleaser  = (*handle)(nil)
	_ gofs.FileGetattrer = (*handle)(nil)
	_ gofs.FileSetattrer = (*handle)(nil)
	_ gofs.FileLseeker   = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return h.lf.Read(ctx, buf, off)
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.fs.off {
		return 0, syscall.EIO
	}
	if err := h.fs.overwrite(h.fd, h.ino, off, int64(len(data))); err != nil {
		return 0, gofs.ToErrno(err)
	}
	n, errno := h.lf.Write(ctx, data, off)
	if n > 0 {
		h.fs.last = &lastWrite{ino: h.ino, off: off, data: append([]byte(nil), data[:n]...)}
	}
	return n, errno
}

// Fsync holds the lock across the backing fsync, so that no write can slip
// in between the flush and forgetting the record.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.fs.off {
		return syscall.EIO
	}
	errno := h.lf.Fsync(ctx, flags)
	if errno == 0 {
		h.fs.synced(h.ino)
	}
	return errno
}

func (h *handle) Flush(ctx context.Context) syscall.Errno   { return h.lf.Flush(ctx) }
func (h *handle) Release(ctx context.Context) syscall.Errno { return h.lf.Release(ctx) }
func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Getattr(ctx, out)
}

// Setattr reaches here only through node.Setattr, which recorded a size
// change already.
func (h *handle) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Setattr(ctx, in, out)
}

func (h *handle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return h.lf.Lseek(ctx, off, whence)
}
