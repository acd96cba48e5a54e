"""kyodo's Scrapy project: spiders fetch and extract raw listings; no normalizing or storing."""
