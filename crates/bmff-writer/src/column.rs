//! Append-only per-sample storage in fixed blocks, so the index never holds more than
//! one partly filled block of spare capacity (a growing `Vec` can hold twice its length).

/// Elements per block.
const BLOCK: usize = 4096;

/// An append-only sequence stored in blocks of [`BLOCK`] elements.
#[derive(Debug, Clone)]
pub(crate) struct Column<T> {
    blocks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Column<T> {
    fn default() -> Self {
        Self {
            blocks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Copy> Column<T> {
    pub fn push(&mut self, v: T) {
        match self.blocks.last_mut() {
            Some(b) if b.len() < BLOCK => b.push(v),
            _ => {
                let mut b = Vec::with_capacity(BLOCK);
                b.push(v);
                self.blocks.push(b);
            }
        }
        self.len += 1;
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn last_mut(&mut self) -> Option<&mut T> {
        self.blocks.last_mut().and_then(|b| b.last_mut())
    }
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.blocks.iter().flat_map(|b| b.iter().copied())
    }
    /// Heap bytes held, spare capacity included.
    pub fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<Vec<T>>()
            + self
                .blocks
                .iter()
                .map(|b| b.capacity() * std::mem::size_of::<T>())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_bound_spare_capacity() {
        let mut c = Column::<u32>::default();
        for i in 0..10_000u32 {
            c.push(i);
        }
        assert_eq!(c.len(), 10_000);
        assert!(c.iter().eq(0..10_000));
        assert!(c.heap_bytes() <= 3 * BLOCK * 4 + 4 * 24);
    }
}
