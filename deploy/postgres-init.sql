-- The compose Postgres starts with the warehouse database; the demo storefront's database sits beside it.
create database shop;
