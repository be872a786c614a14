//! Two small lexicons the guard's taxonomy has no category for: dependency phrases in a user's
//! message (AIAI-7(2)) and money topics that trigger elderly-mode fraud warnings (AIAI-8).
//! Crisis, exit and manipulation signals come from the guard's detectors, not from here.
//!
//! Plain substring search over a few dozen phrases: a message is short, so this costs well under
//! a microsecond and needs no automaton.

/// Phrases that voice emotional dependency on the AI (离不开你 …).
const DEPENDENCY: &[&str] = &[
    "离不开你",
    "不能没有你",
    "只有你懂我",
    "只有你陪我",
    "只想和你聊",
    "只想跟你聊",
    "每天都想和你",
    "一刻也离不开",
    "你是我唯一",
    "你就是我的全部",
    "没有你我活不",
    "除了你没人",
    "我只需要你",
    "你比真人好",
    "不想和真人",
    "不想跟真人",
];

/// Money and fraud topics (转账、汇款、投资 …).
const MONEY: &[&str] = &[
    "转账",
    "汇款",
    "打钱",
    "转钱",
    "投资",
    "理财",
    "保本",
    "高收益",
    "养老金",
    "存款",
    "银行卡",
    "验证码",
    "中奖",
    "领奖",
    "保健品",
    "收藏品",
    "退休金",
    "贷款",
    "借钱",
    "安全账户",
    "公检法",
    "刷单",
    "返利",
    "原始股",
    "比特币",
    "虚拟币",
];

fn any_of(text: &str, list: &[&str]) -> bool {
    list.iter().any(|p| text.contains(p))
}

/// True when the message voices dependency on the AI (a dependency signal, AIAI-7(2)).
pub fn dependency_phrase(text: &str) -> bool {
    any_of(text, DEPENDENCY)
}

/// True when the message is about money, transfers or investments (elderly fraud warnings).
pub fn money_topic(text: &str) -> bool {
    any_of(text, MONEY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aiai_7_2_dependency_phrases() {
        assert!(dependency_phrase("我真的离不开你了"));
        assert!(dependency_phrase("你就是我的全部"));
        assert!(!dependency_phrase("今天天气不错"));
    }

    #[test]
    fn aiai_8_money_topics() {
        assert!(money_topic("有人让我把养老金转到安全账户"));
        assert!(money_topic("这个理财产品保本吗"));
        assert!(!money_topic("今天去公园散步了"));
    }
}
