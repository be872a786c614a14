//! The per-character fold table, composed once from the vendored `tables/*.txt`.
//!
//! Composition: drop if in TEXT-DELETE; else NORM (NFKD + case fold + confusables), then
//! VARIANT_NORM (traditional → simplified), then NUM-NORM (numerals → digits, CJK ones limited to
//! the digits, see `cjk_digit`), repeated until a fixed point so that folding is idempotent.

use std::collections::HashMap;
use std::sync::LazyLock;

/// What one original character folds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folded {
    /// Itself.
    Same,
    /// Another single character.
    Char(char),
    /// Several characters (e.g. `⑩` → `10`, `℉` → `°f` minus the dropped symbol).
    Str(&'static str),
    /// Nothing (punctuation, symbols, emoji, spaces, zero-width characters).
    Drop,
}

const SAME: u32 = 0;
const DROP: u32 = 1;
const MULTI: u32 = 0x8000_0000;

struct Table {
    bmp: Vec<u32>,
    astral: HashMap<u32, u32>,
    multi: Vec<&'static str>,
}

static DELETE: &str = include_str!("../../tables/TEXT-DELETE.txt");
static NORM: &str = include_str!("../../tables/NORM.txt");
static VARIANT: &str = include_str!("../../tables/VARIANT_NORM.txt");
static NUM: &str = include_str!("../../tables/NUM-NORM.txt");

fn pairs(src: &'static str) -> impl Iterator<Item = (char, &'static str)> {
    src.lines().filter_map(|l| {
        let (k, v) = l.split_once('\t')?;
        let mut ks = k.chars();
        let c = ks.next()?;
        ks.next().is_none().then_some((c, v))
    })
}

/// The CJK characters that fold to digits: the plain and the formal (大写) digits. The table
/// also maps multipliers (千万 → 100010000, which would turn ordinary words into long digit
/// strings) and radio-style or rare readings (什 → 10, 拐 → 7, 洞 → 0, 么 → 幺 → 1, so 什么 →
/// 101); those are left as they are.
fn cjk_digit(c: char) -> bool {
    "〇零一二三四五六七八九两兩壹贰貳叁叄肆伍陆陸柒捌玖".contains(c)
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' | '\u{20000}'..='\u{3134f}')
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let delete: std::collections::HashSet<char> = DELETE
        .lines()
        .filter_map(|l| l.trim().strip_prefix("U+"))
        .filter_map(|h| u32::from_str_radix(h, 16).ok())
        .filter_map(char::from_u32)
        .collect();
    let norm: HashMap<char, &str> = pairs(NORM).collect();
    let variant: HashMap<char, &str> = pairs(VARIANT).collect();
    let num: HashMap<char, &str> = pairs(NUM)
        .filter(|(c, _)| !is_cjk(*c) || cjk_digit(*c))
        .collect();

    let step = |s: &[char]| -> Vec<char> {
        let mut out = Vec::with_capacity(s.len());
        for &x in s {
            if delete.contains(&x) {
                continue;
            }
            let a: Vec<char> = norm.get(&x).map_or(vec![x], |v| v.chars().collect());
            for y in a {
                let b: Vec<char> = variant.get(&y).map_or(vec![y], |v| v.chars().collect());
                for z in b {
                    match num.get(&z) {
                        Some(v) => out.extend(v.chars()),
                        None => out.push(z),
                    }
                }
            }
        }
        out.retain(|c| !delete.contains(c));
        out
    };

    let mut keys: Vec<char> = delete.iter().copied().collect();
    keys.extend(norm.keys().chain(variant.keys()).chain(num.keys()));
    keys.sort_unstable();
    keys.dedup();

    let mut table = Table {
        bmp: vec![SAME; 0x1_0000],
        astral: HashMap::new(),
        multi: Vec::new(),
    };
    for c in keys {
        // Iterate to a fixed point. The tables contain cycles (VARIANT_NORM maps 么 → 幺 and
        // 幺 → 么); every member of a cycle folds to its smallest member, so both spellings meet
        // and folding stays idempotent.
        let mut s = vec![c];
        let mut seen: Vec<Vec<char>> = vec![s.clone()];
        for _ in 0..8 {
            let next = step(&s);
            if next == s {
                break;
            }
            if let Some(i) = seen.iter().position(|x| *x == next) {
                s = seen[i..].iter().min().cloned().unwrap_or(next);
                break;
            }
            seen.push(next.clone());
            s = next;
        }
        let code = match s.as_slice() {
            [] => DROP,
            [x] if *x == c => SAME,
            [x] => 2 + *x as u32,
            many => {
                let st: String = many.iter().collect();
                table.multi.push(Box::leak(st.into_boxed_str()));
                MULTI | (table.multi.len() as u32 - 1)
            }
        };
        if code == SAME {
            continue;
        }
        let cp = c as u32;
        if cp < 0x1_0000 {
            table.bmp[cp as usize] = code;
        } else {
            table.astral.insert(cp, code);
        }
    }
    table
});

/// How `c` folds. The first call builds the table (a few milliseconds).
#[inline]
pub fn fold_char(c: char) -> Folded {
    let t = &*TABLE;
    let cp = c as u32;
    let code = if cp < 0x1_0000 {
        t.bmp[cp as usize]
    } else {
        match t.astral.get(&cp) {
            Some(&v) => v,
            None => return Folded::Same,
        }
    };
    match code {
        SAME => Folded::Same,
        DROP => Folded::Drop,
        m if m & MULTI != 0 => t
            .multi
            .get((m & !MULTI) as usize)
            .map_or(Folded::Same, |s| Folded::Str(s)),
        v => char::from_u32(v - 2).map_or(Folded::Same, Folded::Char),
    }
}
