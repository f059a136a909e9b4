package chaos

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Mode is the state of a Proxy's link.
type Mode int

const (
	// Pass forwards bytes both ways.
	Pass Mode = iota
	// Reset closes every connection, and every new one as soon as it is
	// accepted: what a client sees when the peer's host is unreachable
	// and its connections were reset.
	Reset
	// Blackhole keeps every connection open but lets no byte through in
	// either direction (they are read and dropped); new connections are
	// accepted and get the same treatment. A client's calls hang until its
	// own timeouts fire, as in a real partition.
	Blackhole
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Reset:
		return "reset"
	case Blackhole:
		return "blackhole"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Proxy is a TCP proxy between clients and one upstream address, for
// cutting a client off from a server and healing the link. Its methods are
// safe for concurrent use.
type Proxy struct {
	upstream string
	ln       net.Listener

	mu     sync.Mutex
	mode   Mode
	links  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup
}

type link struct {
	client, server net.Conn // server is nil for a link born blackholed
	dark           bool     // bytes are dropped; the stream is broken for good
}

// NewProxy listens on a free port of 127.0.0.1 and forwards to upstream
// (host:port). Close it when done.
func NewProxy(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("chaos: proxy listening: %w", err)
	}
	p := &Proxy{upstream: upstream, ln: ln, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the host:port clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Cut closes every connection and resets new ones until Heal.
func (p *Proxy) Cut() { p.set(Reset) }

// Blackhole stops every byte, on open and new connections, until Heal.
func (p *Proxy) Blackhole() { p.set(Blackhole) }

// Heal lets bytes through again for new connections. Connections that were
// blackholed lost bytes, so their streams are broken: Heal closes them, and
// their clients reconnect.
func (p *Proxy) Heal() { p.set(Pass) }

func (p *Proxy) set(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	for l := range p.links {
		switch {
		case m == Reset || (m == Pass && l.dark):
			p.closeLocked(l)
		case m == Blackhole:
			l.dark = true
		}
	}
}

func (p *Proxy) closeLocked(l *link) {
	_ = l.client.Close()
	if l.server != nil {
		_ = l.server.Close()
	}
	delete(p.links, l)
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for l := range p.links {
		p.closeLocked(l)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		mode, closed := p.mode, p.closed
		p.mu.Unlock()
		switch {
		case closed || mode == Reset:
			_ = c.Close()
		case mode == Blackhole:
			p.start(&link{client: c, dark: true})
		default:
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				s, err := net.DialTimeout("tcp", p.upstream, 2*time.Second)
				if err != nil {
					_ = c.Close()
					return
				}
				p.start(&link{client: c, server: s})
			}()
		}
	}
}

// start registers l and copies its bytes, unless the mode changed
// meanwhile in a way that ends it.
func (p *Proxy) start(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == Reset || (p.mode == Pass && l.dark) {
		_ = l.client.Close()
		if l.server != nil {
			_ = l.server.Close()
		}
		return
	}
	if p.mode == Blackhole {
		l.dark = true
	}
	p.links[l] = struct{}{}
	p.wg.Add(1)
	go p.pipe(l, l.client, l.server)
	if l.server != nil {
		p.wg.Add(1)
		go p.pipe(l, l.server, l.client)
	}
}

// pipe copies src to dst while the link is not dark, drops what it reads
// once it is; on EOF or error it closes the link.
func (p *Proxy) pipe(l *link, src, dst net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			dark := l.dark
			p.mu.Unlock()
			if !dark && dst != nil {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					err = werr
				}
			}
		}
		if err != nil { // EOF, a reset, or closed by set
			p.mu.Lock()
			if _, ok := p.links[l]; ok {
				p.closeLocked(l)
			}
			p.mu.Unlock()
			return
		}
	}
}
