"""Scrapy settings for kyodo's spiders: polite by default (one request at a time per site).

`spiders.run.crawler_settings` overrides some of these from `KYODO_*` settings (contact
address, delay, mirror, HTTP cache); running `scrapy crawl` directly uses them as they are.
"""

BOT_NAME = "kyodo"
SPIDER_MODULES = ["spiders.spiders"]
NEWSPIDER_MODULE = "spiders.spiders"

# Identify the crawler and give a way to reach its operator (KYODO_CRAWL_CONTACT).
USER_AGENT = "kyodo/0.1 (grant information crawler for citizen groups; contact: see settings)"
ROBOTSTXT_OBEY = True

CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
KYODO_RETRY_BACKOFF = 2.0  # seconds before the first retry, doubled for each next one
DOWNLOAD_TIMEOUT = 30
# Real pages rarely exceed a few MB; a 50 MB answer is a fault, not a grant call.
DOWNLOAD_MAXSIZE = 20 * 1024 * 1024
DOWNLOAD_WARNSIZE = 5 * 1024 * 1024

DOWNLOADER_MIDDLEWARES = {
    # After robots.txt (100): robots.txt is checked on the real URL, then fetched via the mirror.
    "spiders.middlewares.MirrorMiddleware": 120,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "spiders.middlewares.BackoffRetryMiddleware": 550,
    # process_response runs from high to low: after decompression (590).
    "spiders.middlewares.CharsetMiddleware": 585,
}
ITEM_PIPELINES = {"spiders.pipelines.ValidateListing": 100}
EXTENSIONS = {"spiders.health.HealthExtension": 0}

HTTPCACHE_ENABLED = False  # KYODO_CRAWL_HTTP_CACHE=true for development
HTTPCACHE_DIR = "httpcache"
HTTPCACHE_EXPIRATION_SECS = 24 * 3600

FEED_EXPORT_ENCODING = "utf-8"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
LOG_LEVEL = "INFO"
