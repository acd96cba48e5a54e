"""The one taxonomy of activity fields: the 20 fields of the NPO law (特定非営利活動促進法 別表)."""

from __future__ import annotations

# slug -> official Japanese name, in the order of the law's schedule.
FIELDS: dict[str, str] = {
    "health_welfare": "保健、医療又は福祉の増進",
    "social_education": "社会教育の推進",
    "community_development": "まちづくりの推進",
    "tourism": "観光の振興",
    "rural": "農山漁村又は中山間地域の振興",
    "culture_arts_sports": "学術、文化、芸術又はスポーツの振興",
    "environment": "環境の保全",
    "disaster_relief": "災害救援",
    "community_safety": "地域安全",
    "human_rights_peace": "人権の擁護又は平和の推進",
    "international": "国際協力",
    "gender_equality": "男女共同参画社会の形成の促進",
    "children_youth": "子どもの健全育成",
    "it_society": "情報化社会の発展",
    "science_tech": "科学技術の振興",
    "economy": "経済活動の活性化",
    "employment": "職業能力の開発又は雇用機会の拡充の支援",
    "consumer_protection": "消費者の保護",
    "npo_support": "団体の運営又は活動に関する連絡、助言又は援助",
    "ordinance": "都道府県又は指定都市の条例で定める活動",
}

FIELD_SLUGS: tuple[str, ...] = tuple(FIELDS)

# Short labels for pages and e-mails (the forms CANPAN and centre pages use).
FIELD_SHORT_LABELS: dict[str, str] = {
    "health_welfare": "保健・医療・福祉",
    "social_education": "社会教育",
    "community_development": "まちづくり",
    "tourism": "観光",
    "rural": "農山漁村・中山間地域",
    "culture_arts_sports": "学術・文化・芸術・スポーツ",
    "environment": "環境保全",
    "disaster_relief": "災害救援",
    "community_safety": "地域安全",
    "human_rights_peace": "人権・平和",
    "international": "国際協力",
    "gender_equality": "男女共同参画",
    "children_youth": "子どもの健全育成",
    "it_society": "情報化社会",
    "science_tech": "科学技術",
    "economy": "経済活動",
    "employment": "職業能力・雇用",
    "consumer_protection": "消費者保護",
    "npo_support": "NPO支援",
    "ordinance": "条例で定める活動",
}


def is_field(slug: str) -> bool:
    return slug in FIELDS
