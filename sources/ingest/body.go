package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer {
	b := bufferPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

// PutBuffer returns a buffer from ReadBody to the pool. Nothing may use the
// buffer, or slices of its bytes, afterwards. A nil buffer is ignored.
func PutBuffer(b *bytes.Buffer) {
	if b == nil || b.Cap() > 4<<20 {
		return
	}
	bufferPool.Put(b)
}

var gzipPool sync.Pool // *gzip.Reader

// ReadBody reads r's body into a pooled buffer, gunzipping it when
// Content-Encoding says gzip. Both the body on the wire and the decoded
// bytes are capped at max, so neither a huge upload nor a gzip bomb is held
// in memory; a chunked body without Content-Length is read through the same
// limit. A refusal is a 400 (too large, truncated or corrupt gzip, a broken
// connection) or a 415 (an encoding other than identity or gzip). The
// caller returns the buffer with PutBuffer, also on error (it may be nil).
func ReadBody(r *http.Request, max int) (*bytes.Buffer, *Error) {
	tooLarge := func() *Error {
		return BadRequest("request body larger than " + strconv.Itoa(max) + " bytes")
	}
	if r.ContentLength > int64(max) {
		return nil, tooLarge()
	}
	if r.Body == nil {
		return nil, BadRequest("request body is empty")
	}
	buf := getBuffer()
	limit := int64(max) + 1
	raw := &io.LimitedReader{R: tagReader{r.Body}, N: limit}
	var src io.Reader = raw
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength))
		}
	case "gzip", "x-gzip":
		gz = true
		zr, _ := gzipPool.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(src)
		} else {
			err = zr.Reset(src)
		}
		if err != nil {
			return buf, gzipError(err)
		}
		defer gzipPool.Put(zr)
		src = io.LimitReader(zr, limit)
	default:
		return buf, &Error{Status: http.StatusUnsupportedMediaType, Msg: "unsupported Content-Encoding " + strconv.Quote(enc) + "; send identity or gzip"}
	}
	if _, err := buf.ReadFrom(src); err != nil {
		if raw.N <= 0 {
			return buf, tooLarge() // a compressed body cut at the cap
		}
		if gz && !isBodyReadError(err) {
			return buf, gzipError(err)
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return buf, tooLarge()
		}
		return buf, BadRequest("reading request body: " + err.Error())
	}
	if buf.Len() > max {
		return buf, tooLarge()
	}
	return buf, nil
}

// bodyReadError marks errors from the connection, as opposed to the gzip
// stream.
type bodyReadError struct{ err error }

func (e bodyReadError) Error() string { return e.err.Error() }
func (e bodyReadError) Unwrap() error { return e.err }

// tagReader marks the errors of the connection's body as bodyReadError.
type tagReader struct{ r io.Reader }

func (t tagReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		err = bodyReadError{err}
	}
	return n, err
}

func isBodyReadError(err error) bool {
	var b bodyReadError
	return errors.As(err, &b)
}

func gzipError(err error) *Error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return BadRequest("invalid gzip body: truncated")
	}
	return BadRequest("invalid gzip body: " + err.Error())
}

// Drain reads and discards at most max bytes of r's body, so that the
// connection can be reused after a request whose body is not wanted.
func Drain(r *http.Request, max int) (int64, error) {
	if r.Body == nil {
		return 0, nil
	}
	return io.Copy(io.Discard, io.LimitReader(r.Body, int64(max)))
}
