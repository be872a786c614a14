//! Split-character (拆字) and pinyin variants of library terms.
//!
//! Rather than guessing in the text whether `女干` is `奸` (it is not in `女干部`), hegui expands
//! the *terms*: `强奸` also yields `弓虽奸`, `强女干` and `弓虽女干`. Entries that opt in to pinyin
//! also yield their toneless pinyin (`shabi`), initials (`sb`) and mixed spellings (`sha逼`).

use std::collections::HashMap;
use std::sync::LazyLock;

/// Characters commonly written split into components to dodge filters. Our own table.
const SPLITS: &[(char, &str)] = &[
    ('强', "弓虽"),
    ('奸', "女干"),
    ('妈', "女马"),
    ('姐', "女且"),
    ('嫖', "女票"),
    ('娼', "女昌"),
    ('婊', "女表"),
    ('妓', "女支"),
    ('炸', "火乍"),
    ('枪', "木仓"),
    ('抢', "扌仓"),
    ('操', "扌喿"),
    ('射', "身寸"),
    ('赌', "贝者"),
    ('贱', "贝戋"),
    ('骗', "马扁"),
    ('独', "犭虫"),
    ('狗', "犭句"),
    ('猪', "犭者"),
    ('淫', "氵㸒"),
    ('法', "氵去"),
    ('杀', "乂木"),
    ('毒', "龶毋"),
    ('鸡', "又鸟"),
    ('吧', "口巴"),
    ('叫', "口丩"),
    ('胡', "古月"),
    ('明', "日月"),
    ('好', "女子"),
    ('裸', "衤果"),
    ('粪', "米共"),
    ('逼', "辶畐"),
    ('私', "禾厶"),
    ('秘', "禾必"),
    ('陈', "阝东"),
    ('政', "正攵"),
    ('权', "木又"),
    ('党', "尚儿"),
];

static SPLIT: LazyLock<HashMap<char, &'static str>> =
    LazyLock::new(|| SPLITS.iter().copied().collect());

static PINYIN: LazyLock<HashMap<char, &'static str>> = LazyLock::new(|| {
    include_str!("../tables/PINYIN.txt")
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('\t')?;
            let mut cs = k.chars();
            let c = cs.next()?;
            cs.next().is_none().then_some((c, v))
        })
        .collect()
});

/// At most this many split variants per term: a long term with many splittable characters
/// would otherwise multiply the automaton.
const MAX_SPLIT_VARIANTS: usize = 8;

/// Split-character spellings of a folded term (not including the term itself).
pub fn split_variants(term: &str) -> Vec<String> {
    let chars: Vec<char> = term.chars().collect();
    let spots: Vec<usize> = (0..chars.len())
        .filter(|&i| SPLIT.contains_key(&chars[i]))
        .collect();
    if spots.is_empty() || chars.len() < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let combos = 1usize << spots.len().min(3);
    for mask in 1..combos {
        let mut s = String::new();
        for (i, c) in chars.iter().enumerate() {
            let k = spots.iter().position(|&p| p == i);
            match (k, SPLIT.get(c)) {
                (Some(k), Some(parts)) if k < 3 && mask & (1 << k) != 0 => s.push_str(parts),
                _ => s.push(*c),
            }
        }
        out.push(s);
        if out.len() >= MAX_SPLIT_VARIANTS {
            break;
        }
    }
    out
}

/// Pinyin spellings of a folded all-CJK term: full pinyin, initials, and mixes of characters and
/// full pinyin (for terms of up to four characters). Empty when a character has no pinyin.
pub fn pinyin_variants(term: &str) -> Vec<String> {
    let chars: Vec<char> = term.chars().collect();
    if chars.len() < 2 {
        return Vec::new();
    }
    let Some(syll): Option<Vec<&str>> = chars.iter().map(|c| PINYIN.get(c).copied()).collect()
    else {
        return Vec::new();
    };
    let mut out = vec![syll.concat()];
    out.push(syll.iter().filter_map(|s| s.chars().next()).collect());
    if chars.len() <= 4 {
        for mask in 1..(1usize << chars.len()) - 1 {
            let mut s = String::new();
            for (i, c) in chars.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    s.push_str(syll[i]);
                } else {
                    s.push(*c);
                }
            }
            out.push(s);
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_variants_of_a_term() {
        let v = split_variants("强奸");
        assert!(v.contains(&"弓虽奸".to_string()));
        assert!(v.contains(&"强女干".to_string()));
        assert!(v.contains(&"弓虽女干".to_string()));
        assert!(split_variants("你好吗").contains(&"你女子吗".to_string()));
        assert!(split_variants("天气").is_empty());
    }

    #[test]
    fn pinyin_variants_of_a_term() {
        let v = pinyin_variants("傻逼");
        for want in ["shabi", "sb", "sha逼", "傻bi"] {
            assert!(v.contains(&want.to_string()), "{want} in {v:?}");
        }
    }
}
