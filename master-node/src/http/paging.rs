//! Paged listings: the API's cursors are the store's page keys, hex-encoded.

use broadside_api::{Page, PageQuery};
use broadside_raft_store::{PageRequest, MAX_PAGE};

use crate::error::{Error, Result};

/// The store's page request of a query: a limit of at most [`MAX_PAGE`], a cursor this API
/// returned.
pub(crate) fn page_request(query: &PageQuery) -> Result<PageRequest> {
    let limit = query.limit.unwrap_or(0);
    if limit > MAX_PAGE {
        return Err(Error::BadRequest(format!(
            "limit {limit} exceeds the maximum page of {MAX_PAGE}"
        )));
    }
    let after = match &query.after {
        None => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            Error::BadRequest(format!("cursor {c:?} is not one this API returned"))
        })?),
    };
    Ok(PageRequest { after, limit })
}

/// One page of `list` holding only the items `keep` accepts: pages are read on until this one
/// is full, never past what still fits, so that `next` never skips an accepted item. The page's
/// cursor is that of its last item (`cursor_of`, see `broadside_raft_store::cursor`), never the
/// key of an item left out: a cursor names nothing the caller may not see.
pub(crate) fn filtered<T>(
    mut request: PageRequest,
    mut list: impl FnMut(&PageRequest) -> broadside_raft_store::Result<broadside_raft_store::Page<T>>,
    keep: impl Fn(&T) -> bool,
    cursor_of: impl Fn(&T) -> Vec<u8>,
) -> Result<broadside_raft_store::Page<T>> {
    let limit = request.limit();
    let mut items = Vec::new();
    let more = loop {
        let page = list(&request)?;
        items.extend(page.items.into_iter().filter(|item| keep(item)));
        match page.next {
            Some(next) if items.len() < limit => {
                request.after = Some(next);
                request.limit = limit - items.len();
            }
            next => break next.is_some(),
        }
    };
    let next = if more {
        items.last().map(cursor_of)
    } else {
        None
    };
    Ok(broadside_raft_store::Page { items, next })
}

/// The API page of a store page, its items mapped by `f`.
pub(crate) fn page<U, T>(page: broadside_raft_store::Page<U>, f: impl FnMut(U) -> T) -> Page<T> {
    Page {
        items: page.items.into_iter().map(f).collect(),
        next: page.next.map(|k| encode_cursor(&k)),
    }
}

fn encode_cursor(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.len() > 4096 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let key = vec![0u8, 1, 0xfe, 0xff];
        assert_eq!(decode_cursor(&encode_cursor(&key)), Some(key));
        assert_eq!(decode_cursor("abc"), None);
        assert_eq!(decode_cursor("zz"), None);
    }
}
