"""The pipeline's tables in the store, beside the events."""

from __future__ import annotations

import duckdb


def create_crm_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS crm_deals (
            deal_id VARCHAR NOT NULL, pipeline VARCHAR NOT NULL, stage VARCHAR NOT NULL,
            status VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, name VARCHAR, amount DOUBLE,
            currency VARCHAR, owner VARCHAR, team VARCHAR, source VARCHAR, campaign VARCHAR,
            expected_close TIMESTAMP, closed_at TIMESTAMP, lost_reason VARCHAR,
            person_id VARCHAR, company VARCHAR, fields MAP(VARCHAR, VARCHAR), load_id INTEGER
        );
        CREATE TABLE IF NOT EXISTS crm_stage_changes (
            deal_id VARCHAR NOT NULL, from_stage VARCHAR, to_stage VARCHAR NOT NULL,
            changed_at TIMESTAMP NOT NULL, changed_by VARCHAR, load_id INTEGER
        );
        CREATE TABLE IF NOT EXISTS crm_activities (
            deal_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, due_at TIMESTAMP, done_at TIMESTAMP,
            owner VARCHAR, load_id INTEGER
        );
        CREATE TABLE IF NOT EXISTS crm_stages (
            pipeline VARCHAR NOT NULL, stage VARCHAR NOT NULL, position INTEGER NOT NULL,
            kind VARCHAR NOT NULL, probability DOUBLE, load_id INTEGER
        );
        CREATE TABLE IF NOT EXISTS crm_loads (
            load_id INTEGER, source VARCHAR, layout VARCHAR, loaded_at TIMESTAMP,
            deals BIGINT, stage_changes BIGINT, activities BIGINT, stages BIGINT,
            quarantined BIGINT
        );
        """
    )
