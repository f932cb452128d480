//! Catalog search on PostgreSQL: searches per second through `PgCatalog`
//! over a generated catalog of 10,000 shows (booking-core's
//! `testkit::catalog::generate_catalog`, the same catalog and queries as
//! booking-memory's `catalog_search` bench), beside, in the same run on
//! the same server, the bare query a team would write over a plain table
//! of the same shows:
//!
//! ```sql
//! SELECT id, title, ts_rank_cd(tsv, q) AS rank
//! FROM plain_shows, websearch_to_tsquery('english', $1) q
//! WHERE tsv @@ q ORDER BY rank DESC LIMIT 20
//! ```
//!
//! with `tsv` a stored generated column (title A, performers B,
//! description D) under a GIN index. Both run through the same client
//! (sqlx, a pool of 8 connections) at 1 and 8 concurrent callers. The bare
//! query does less: no prefix or typo matching, no filters, no
//! availability, no event or venue records; the results-per-search figures
//! show what that costs in what is found.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p booking-postgres --bench catalog_search`
//!
//! `CATALOG_BENCH_SECS` (default 10) is the time per measurement and
//! `CATALOG_BENCH_SHOWS` (default 10000) the catalog's size;
//! `CATALOG_BENCH_SECS=0.5 CATALOG_BENCH_SHOWS=500` makes a short run.
//! The catalog lives in the database `booking_bench_catalog`, dropped and
//! created again by each run.
#![allow(missing_docs)]

use booking_core::catalog::Catalog;
use booking_core::testkit::catalog::{GeneratedCatalog, generate_catalog, generate_queries, search_rate};
use booking_core::{Clock, ManualClock, TimeSource};
use booking_postgres::catalog::PgCatalog;
use booking_postgres::testkit::recreate_database;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Loads the catalog through `PgCatalog`, 8 writers at a time: venues,
/// then events, then shows.
async fn load(catalog: &Arc<PgCatalog>, data: &GeneratedCatalog) {
    async fn each<T: Clone + Send + 'static>(
        catalog: &Arc<PgCatalog>,
        items: &[T],
        write: fn(Arc<PgCatalog>, T) -> futures_core::future::BoxFuture<'static, ()>,
    ) {
        let chunk = items.len().div_ceil(8).max(1);
        let tasks: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let (catalog, part) = (catalog.clone(), part.to_vec());
                tokio::spawn(async move {
                    for item in part {
                        write(catalog.clone(), item).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("loader");
        }
    }
    each(catalog, &data.venues, |c, v| Box::pin(async move { c.create_venue(&v).await.map(drop).expect("venue") }))
        .await;
    each(catalog, &data.events, |c, e| Box::pin(async move { c.create_event(&e).await.map(drop).expect("event") }))
        .await;
    each(catalog, &data.shows, |c, s| Box::pin(async move { c.create_show(&s).await.map(drop).expect("show") })).await;
}

/// The plain table a team would write, with the same shows.
async fn plain_table(pool: &PgPool, data: &GeneratedCatalog) {
    sqlx::raw_sql(
        "CREATE TABLE plain_shows (
            id uuid PRIMARY KEY,
            title text NOT NULL,
            performers text NOT NULL,
            description text NOT NULL,
            city text NOT NULL,
            starts_at timestamptz NOT NULL,
            tsv tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('english', title), 'A')
                || setweight(to_tsvector('english', performers), 'B')
                || setweight(to_tsvector('english', description), 'D')) STORED);
         CREATE INDEX plain_shows_tsv ON plain_shows USING gin (tsv);",
    )
    .execute(pool)
    .await
    .expect("plain table");
    let events: std::collections::HashMap<_, _> = data.events.iter().map(|e| (e.id, e)).collect();
    let venues: std::collections::HashMap<_, _> = data.venues.iter().map(|v| (v.id, v)).collect();
    let (mut ids, mut titles, mut performers, mut descriptions, mut cities, mut starts) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for s in &data.shows {
        let (e, v) = (events[&s.event], venues[&s.venue]);
        ids.push(s.id.as_uuid());
        titles.push(e.title.clone());
        performers.push(e.performers.join(", "));
        descriptions.push(e.description.clone());
        cities.push(v.city.clone());
        starts.push(s.starts_at);
    }
    sqlx::query(
        "INSERT INTO plain_shows (id, title, performers, description, city, starts_at) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])",
    )
    .bind(ids)
    .bind(titles)
    .bind(performers)
    .bind(descriptions)
    .bind(cities)
    .bind(starts)
    .execute(pool)
    .await
    .expect("fill the plain table");
    // As autovacuum would have by the time a loaded catalog is searched
    // (the plain table's GIN index keeps its default pending list).
    sqlx::query("VACUUM ANALYZE").execute(pool).await.expect("vacuum analyze");
}

/// Searches per second and results per search of the bare query.
async fn bare_rate(pool: &PgPool, texts: &[String], callers: usize, duration: Duration) -> (f64, f64) {
    let texts: Arc<[String]> = texts.into();
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let (pool, texts) = (pool.clone(), texts.clone());
            tokio::spawn(async move {
                let (mut done, mut hits, mut i) = (0u64, 0u64, caller);
                while start.elapsed() < duration {
                    let rows = sqlx::query(
                        "SELECT id, title, ts_rank_cd(tsv, q) AS rank \
                         FROM plain_shows, websearch_to_tsquery('english', $1) q \
                         WHERE tsv @@ q ORDER BY rank DESC LIMIT 20",
                    )
                    .bind(&texts[i % texts.len()])
                    .fetch_all(&pool)
                    .await
                    .expect("bare search");
                    hits += rows.len() as u64;
                    done += 1;
                    i += callers;
                }
                (done, hits)
            })
        })
        .collect();
    let (mut done, mut hits) = (0u64, 0u64);
    for t in tasks {
        let (d, h) = t.await.expect("bare task");
        done += d;
        hits += h;
    }
    (done as f64 / start.elapsed().as_secs_f64(), hits as f64 / done.max(1) as f64)
}

fn main() {
    let secs = Duration::from_secs_f64(env("CATALOG_BENCH_SECS", 10.0f64).max(0.0));
    let shows: usize = env("CATALOG_BENCH_SHOWS", 10_000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let clock = ManualClock::fixed();
    let data = generate_catalog(shows, 1, clock.now());
    let queries = generate_queries(&data, 600, 1);
    let texts: Vec<String> = queries.iter().map(|q| q.text.clone()).collect();
    rt.block_on(async {
        let pool = recreate_database("booking_bench_catalog", 8).await;
        let catalog = Arc::new(PgCatalog::with_time_source(pool.clone(), TimeSource::Injected(clock.shared())));
        let t = Instant::now();
        load(&catalog, &data).await;
        println!(
            "postgres: loaded {} venues, {} events, {} shows through PgCatalog in {:.1} s",
            data.venues.len(),
            data.events.len(),
            data.shows.len(),
            t.elapsed().as_secs_f64()
        );
        plain_table(&pool, &data).await;
        for callers in [1, 8] {
            let rate = search_rate(catalog.clone(), &queries, callers, secs).await;
            let (bare, bare_hits) = bare_rate(&pool, &texts, callers, secs).await;
            println!(
                "postgres, {callers} callers: PgCatalog search {:.0}/s ({:.1} results per search), \
                 bare ts_rank_cd {:.0}/s ({:.1} results per search), PgCatalog / bare {:.3}",
                rate.per_second,
                rate.hits_per_search,
                bare,
                bare_hits,
                rate.per_second / bare
            );
        }
    });
}
