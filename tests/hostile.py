"""Hostile questions shared by the engine, command-line and bot tests."""

HOSTILE_QUESTIONS: dict[str, str] = {
    "empty": "",
    "whitespace": " \t\n\r ",
    "huge": "What did the Department of Defense demand? " * 300,  # ~13,000 characters
    "nul-and-control": "What\x00 did\x07 the DoD\x1b[31m demand?",
    "zalgo": "W̵̛̖h̸̰͝a̷̱͐t̶̞̾ ̷̡̓d̵̙̈́i̶̬͐d̴̰̈́ ̴̳̌t̵̰̅h̵̯̽e̷͉͗ ̵̱̈́D̶̝̈o̸̖͠D̸̪̄ ̸̱̈d̴̠̈́e̶͚̓m̸̲̈a̸̰̓n̸̤̽d̴̢̓?̶̰̎",
    "rtl-override": "\u202eWhat did the DoD demand?\u202c \u200f\u200e",
    "emoji-only": "🤖🔥💣🛡️❓",
    "non-english": "国防部对Anthropic提出了什么要求？ Что потребовало министерство обороны?",
    "arabic": "ماذا طلبت وزارة الدفاع من أنثروبيك؟",
    "discord-markdown": "**What** did the _DoD_ ~~demand~~ `from` ||Anthropic||? > quote\n# heading",
    "mentions": "@everyone @here <@123456789> <@&987654321> <#555> what did the DoD demand?",
    "template-injection": "{{7*7}} ${jndi:ldap://127.0.0.1/a} %s%s%n {0.__class__} <script>alert(1)</script>",
    "sql-injection": "'; DROP TABLE passages; -- what did the DoD demand?",
    "path-traversal": "../../../../etc/passwd",
    "only-punctuation": "?!?.,;:…—",
}
