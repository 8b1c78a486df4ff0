//! Recycled buffers. A buffer written for the first time costs a page
//! fault per 4 KiB page, which for large messages weighs as much as
//! copying them; so the segments of settled batches and the buffers of
//! sent requests come back here and are written again.

use bytes::{Bytes, BytesMut};

/// Free buffers waiting to be written again, `KEPT` at most; more are freed.
#[derive(Debug, Default)]
pub struct BufferPool<const KEPT: usize = 16> {
    free: Vec<BytesMut>,
}

impl<const KEPT: usize> BufferPool<KEPT> {
    /// An empty buffer with room for `capacity` bytes, recycled when possible.
    pub fn take(&mut self, capacity: usize) -> BytesMut {
        match self.free.pop() {
            Some(mut buffer) => {
                buffer.clear();
                buffer.reserve(capacity);
                buffer
            }
            None => BytesMut::with_capacity(capacity),
        }
    }

    /// Takes `bytes` back when nothing else refers to its memory any more.
    pub fn give(&mut self, bytes: Bytes) {
        if self.free.len() < KEPT {
            if let Ok(buffer) = bytes.try_into_mut() {
                self.free.push(buffer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn a_returned_buffer_is_written_again_in_place() {
        let mut pool: BufferPool = BufferPool::default();
        let mut buffer = pool.take(1 << 20);
        buffer.put_slice(&[7; 1000]);
        let frozen = buffer.freeze();
        let address = frozen.as_ptr();
        pool.give(frozen);
        let again = pool.take(1 << 20);
        assert_eq!(again.as_ptr(), address, "the same memory");
        assert!(again.capacity() >= 1 << 20);
        assert!(again.is_empty());
    }

    #[test]
    fn a_shared_buffer_is_not_taken_back() {
        let mut pool: BufferPool = BufferPool::default();
        let frozen = pool.take(64).freeze();
        let other = frozen.clone();
        pool.give(frozen);
        assert!(pool.free.is_empty());
        drop(other);
    }
}
