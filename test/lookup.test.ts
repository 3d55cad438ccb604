import { describe, expect, it } from 'vitest';
import { isPgcertsError } from '../src/errors.js';
import { lookup, lookupHost } from '../src/lookup.js';

interface Row {
  input: string;
  provider?: string;
  kind?: string;
  partition?: string;
  region?: string;
  trust?: 'bundle' | 'public' | 'account' | 'none';
  /** Expected bundle URL for `bundle` hosts. */
  url?: string;
  /** Text the hint must contain when nothing matches. */
  hint?: string;
}

const RDS = 'https://truststore.pki.rds.amazonaws.com';
const RDS_GOV = 'https://truststore.pki.us-gov-west-1.rds.amazonaws.com';
const RDS_CN = 'https://rds-truststore.s3.cn-north-1.amazonaws.com.cn';

// Written from the providers' documented host forms, independent of the registry's own examples.
const TABLE: Row[] = [
  // Amazon RDS and Aurora, commercial
  { input: 'mydb.abc123xyz.us-east-1.rds.amazonaws.com', provider: 'rds', kind: 'instance', partition: 'aws', region: 'us-east-1', trust: 'bundle', url: `${RDS}/us-east-1/us-east-1-bundle.pem` },
  { input: 'MyDB.ABC123XYZ.US-EAST-1.RDS.AMAZONAWS.COM.', provider: 'rds', kind: 'instance', region: 'us-east-1', url: `${RDS}/us-east-1/us-east-1-bundle.pem` },
  { input: '  mydb.abc123xyz.eu-west-1.rds.amazonaws.com  ', provider: 'rds', region: 'eu-west-1', url: `${RDS}/eu-west-1/eu-west-1-bundle.pem` },
  { input: 'test-postgres.cluster-123456789012.us-east-2.rds.amazonaws.com', provider: 'rds', kind: 'cluster', region: 'us-east-2', url: `${RDS}/us-east-2/us-east-2-bundle.pem` },
  { input: 'test-postgres.cluster-ro-123456789012.us-east-2.rds.amazonaws.com', provider: 'rds', kind: 'cluster-ro', region: 'us-east-2' },
  { input: 'test-postgres-alias.cluster-custom-123456789012.us-east-2.rds.amazonaws.com', provider: 'rds', kind: 'cluster-custom', region: 'us-east-2' },
  { input: 'mydb.abc123xyz.ap-southeast-7.rds.amazonaws.com', provider: 'rds', region: 'ap-southeast-7', url: `${RDS}/ap-southeast-7/ap-southeast-7-bundle.pem` },
  { input: 'mydb.abc123xyz.xx-newplace-9.rds.amazonaws.com', provider: 'rds', region: 'xx-newplace-9', url: `${RDS}/global/global-bundle.pem` },
  { input: 'mydb-green-abc123.abc123xyz.eu-central-1.rds.amazonaws.com', provider: 'rds', region: 'eu-central-1' },
  { input: 'c4fuk4g4mva0ni.cluster-cmgvywijhzgr.us-east-1.rds.amazonaws.com', provider: 'rds', kind: 'cluster', region: 'us-east-1' },
  { input: 'myglobal.global-abc123def.global.rds.amazonaws.com', provider: 'rds', url: `${RDS}/global/global-bundle.pem` },
  { input: 'postgres://app:secret@mydb.abc123xyz.eu-central-1.rds.amazonaws.com:5432/db?sslmode=require', provider: 'rds', region: 'eu-central-1' },
  { input: 'host=mydb.abc123xyz.ap-southeast-2.rds.amazonaws.com port=5432 dbname=app', provider: 'rds', region: 'ap-southeast-2' },
  { input: 'mydb.abc123xyz.us-east-1.rds.amazonaws.com:5432', provider: 'rds', region: 'us-east-1' },
  // GovCloud and China partitions
  { input: 'mydb.abc123xyz.us-gov-west-1.rds.amazonaws.com', provider: 'rds', partition: 'aws-us-gov', region: 'us-gov-west-1', url: `${RDS_GOV}/us-gov-west-1/us-gov-west-1-bundle.pem` },
  { input: 'mydb.abc123xyz.us-gov-east-1.rds.amazonaws.com', provider: 'rds', partition: 'aws-us-gov', region: 'us-gov-east-1', url: `${RDS_GOV}/us-gov-east-1/us-gov-east-1-bundle.pem` },
  { input: 'test-postgres.cluster-123456789012.rds.cn-northwest-1.amazonaws.com.cn', provider: 'rds', partition: 'aws-cn', region: 'cn-northwest-1', url: `${RDS_CN}/cn-northwest-1/cn-northwest-1-bundle.pem` },
  { input: 'mydb.abc123xyz.cn-north-1.rds.amazonaws.com.cn', provider: 'rds', partition: 'aws-cn', region: 'cn-north-1', url: `${RDS_CN}/cn-north-1/cn-north-1-bundle.pem` },
  // Newer commercial Regions without a regional bundle in the registry fall back to the global one.
  { input: 'mydb.abc123xyz.ap-east-2.rds.amazonaws.com', provider: 'rds', partition: 'aws', region: 'ap-east-2', url: `${RDS}/global/global-bundle.pem` },
  { input: 'mydb.abc123xyz.ap-southeast-6.rds.amazonaws.com', provider: 'rds', partition: 'aws', region: 'ap-southeast-6', url: `${RDS}/global/global-bundle.pem` },
  // AWS European Sovereign Cloud: recognised, CA bundle unknown.
  { input: 'mydb.abc123xyz.eusc-de-east-1.rds.amazonaws.eu', provider: 'rds', kind: 'instance', partition: 'aws-eusc', region: 'eusc-de-east-1', trust: 'none' },
  { input: 'MYDB.ABC123XYZ.EUSC-DE-EAST-1.RDS.AMAZONAWS.EU.', provider: 'rds', partition: 'aws-eusc', region: 'eusc-de-east-1' },
  { input: 'mydb.abc123xyz.eusc-de-east-1.rds.amazonaws.eu.evil.example', hint: 'No provider' },
  { input: 'mydb.abc123xyz.eusc-de-east-1.evilrds.amazonaws.eu', hint: 'No provider' },
  { input: 'mydb.abc123xyz.us-east-1.rds.amazonaws.eu', hint: 'No provider' },
  { input: 'mydb.abc123xyz.eusc-de-east-1.rds.amazonaws.com', hint: 'No provider' },
  { input: 'rds.amazonaws.eu', hint: 'No provider' },
  // RDS lookalikes
  { input: 'rds.amazonaws.com.evil.example', hint: 'No provider' },
  { input: 'evilrds.amazonaws.com', hint: 'No provider' },
  { input: 'mydb.abc123xyz.us-east-1.rds.amazonaws.com.evil.example', hint: 'No provider' },
  // China regions live under amazonaws.com.cn; the commercial name with a China region does not exist.
  { input: 'mydb.abc123xyz.cn-north-1.rds.amazonaws.com', hint: 'No provider' },
  { input: 'mydb.abc123xyz.us-east-1.rds-amazonaws.com', hint: 'No provider' },
  { input: 'rds.amazonaws.com', hint: 'No provider' },
  { input: 'foo.rds.amazonaws.com', hint: 'No provider' },
  // RDS Proxy, Aurora DSQL, Redshift
  { input: 'test-proxy.proxy-xxxxxxxxxxxxx.eu-west-1.rds.amazonaws.com', provider: 'rds-proxy', region: 'eu-west-1', trust: 'public' },
  { input: 'proxyendpoint1.endpoint.proxy-ab0cd1efghij.us-east-1.rds.amazonaws.com', provider: 'rds-proxy', region: 'us-east-1' },
  { input: 'ijt4jtjkn7oxftooklnuliggna.dsql.us-east-1.on.aws', provider: 'aurora-dsql', region: 'us-east-1', trust: 'public' },
  { input: 'dsql.us-east-1.on.aws.evil.example', hint: 'No provider' },
  { input: 'examplecluster.abc123xyz789.us-west-2.redshift.amazonaws.com', provider: 'redshift', region: 'us-west-2' },
  { input: 'default-workgroup.123456789012.us-east-1.redshift-serverless.amazonaws.com', provider: 'redshift', region: 'us-east-1' },
  // Google Cloud SQL
  { input: '298474959c18.25pf3r4b6sfkn.asia-northeast2.sql.goog', provider: 'cloudsql', trust: 'account' },
  { input: '0a1b2c3d4e5f.my-project-label.us-central1.sql.goog', provider: 'cloudsql', kind: 'instance', region: 'us-central1', trust: 'account' },
  { input: '0a1b2c3d4e5f.abcdefghijk.europe-west4.sql-psa.goog', provider: 'cloudsql', kind: 'psa', region: 'europe-west4', trust: 'account' },
  { input: '9f8e7d6c5b4a.abcdefghijk.asia-east1.sql-psc.goog', provider: 'cloudsql', kind: 'psc', region: 'asia-east1', trust: 'account' },
  { input: '9f8e7d6c5b4a.abcdefghijk.global.sql.goog', provider: 'cloudsql', kind: 'write-endpoint', trust: 'account' },
  { input: '9f8e7d6c5b4a.abcdefghijk.global.sql-psa.goog', provider: 'cloudsql', kind: 'write-endpoint' },
  { input: '9f8e7d6c5b4a.abcdefghijk.global.sql-psc.goog', provider: 'cloudsql', kind: 'write-endpoint' },
  // The instance label is 12 hex characters, and a region holds a dash.
  { input: 'myinstance12.abcdefghijk.us-central1.sql.goog', hint: 'No provider' },
  { input: '0a1b2c3d4e5.abcdefghijk.us-central1.sql-psc.goog', hint: 'No provider' },
  { input: '0a1b2c3d4e5f.abcdefghijk.uscentral1.sql.goog', hint: 'No provider' },
  { input: '0a1b2c3d4e5f.abcdefghijk.us-central1.sql-psc.goog.evil.example', hint: 'No provider' },
  { input: '0a1b2c3d4e5f.abcdefghijk.us-central1.evilsql-psc.goog', hint: 'No provider' },
  { input: 'global.sql.goog', hint: 'No provider' },
  { input: '34.66.12.3', hint: 'Cloud SQL' },
  // Azure Flexible Server in three clouds
  { input: 'mydemoserver.postgres.database.azure.com', provider: 'azure', partition: 'azure-public', trust: 'public' },
  { input: 'mydemoserver.postgres.database.usgovcloudapi.net', provider: 'azure', partition: 'azure-us-gov', trust: 'public' },
  { input: 'mydemoserver.postgres.database.chinacloudapi.cn', provider: 'azure', partition: 'azure-china', trust: 'public' },
  { input: 'postgres.database.azure.com', hint: 'No provider' },
  { input: 'mydemoserver.postgres.database.azure.com.attacker.net', hint: 'No provider' },
  { input: 'mydemoserver.private.postgres.database.azure.com', provider: 'azure', kind: 'private-dns', partition: 'azure-public', trust: 'public' },
  { input: 'private.postgres.database.azure.com', provider: 'azure', kind: 'flexible-server' },
  { input: 'mydemoserver.private.postgres.database.azure.com.evil.example', hint: 'No provider' },
  { input: 'mydemoserver.evilprivate.postgres.database.azure.com', hint: 'No provider' },
  // Citus: Azure Cosmos DB for PostgreSQL
  { input: 'c-mycluster.abcdef123456.postgres.cosmos.azure.com', provider: 'citus', trust: 'public' },
  // DigitalOcean
  { input: 'db-postgresql-nyc3-44787-do-user-11136722-0.b.db.ondigitalocean.com', provider: 'digitalocean', trust: 'account' },
  { input: 'private-db-postgresql-nyc3-44787-do-user-11136722-0.b.db.ondigitalocean.com', provider: 'digitalocean' },
  { input: 'mydb-do-user-123456-0.db.ondigitalocean.com', provider: 'digitalocean' },
  // Scaleway: Managed Database endpoints and Serverless SQL endpoints share scw.cloud
  { input: 'rw-9b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e.rdb.nl-ams.scw.cloud', provider: 'scaleway-rdb', kind: 'instance', region: 'nl-ams', trust: 'account' },
  { input: '9b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e.pg.sdb.fr-par.scw.cloud', provider: 'scaleway', trust: 'public' },
  { input: 'rw-9b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e.rdb.nl-ams.scw.cloud.evil.example', hint: 'No provider' },
  { input: 'ro-9b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e.rdb.nl-ams.scw.cloud', hint: 'No provider' },
  // Heroku classic
  { input: 'ec2-23-23-245-89.compute-1.amazonaws.com', provider: 'heroku', trust: 'none' },
  // Supabase
  { input: 'db.abcdefghijklmnopqrst.supabase.co', provider: 'supabase', trust: 'account' },
  { input: 'aws-0-eu-central-1.pooler.supabase.com', provider: 'supabase', region: 'eu-central-1' },
  { input: 'postgresql://postgres.abcdefghijklmnopqrst:pw@aws-1-ap-southeast-1.pooler.supabase.com:6543/postgres', provider: 'supabase', region: 'ap-southeast-1' },
  { input: 'db.abcdefghijklmnopqrst.supabase.co.evil.com', hint: 'No provider' },
  { input: 'supabase.co', hint: 'No provider' },
  // Neon
  { input: 'ep-cool-darkness-123456.us-east-2.aws.neon.tech', provider: 'neon', kind: 'endpoint', region: 'us-east-2', trust: 'public' },
  // Neon's cell labels (c-N) in newer projects' names
  { input: 'ep-plain-mountain-aelv7gf4-pooler.c-2.us-east-2.aws.neon.tech', provider: 'neon', kind: 'pooler', region: 'us-east-2', trust: 'public' },
  { input: 'ep-plain-mountain-aelv7gf4.c-2.us-east-2.aws.neon.tech', provider: 'neon', kind: 'endpoint', region: 'us-east-2', trust: 'public' },
  { input: 'ep-old-fire-ae5lg5tk-pooler.c-3.eu-central-1.aws.neon.tech', provider: 'neon', kind: 'pooler', region: 'eu-central-1' },
  { input: 'ep-plain-mountain-aelv7gf4-pooler.c-2.us-east-2.aws.neon.tech.evil.example', hint: 'No provider' },
  { input: 'ep-plain-mountain-aelv7gf4-pooler.c-2.us-east-2.aws.neon-tech.com', hint: 'No provider' },
  { input: 'ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech', provider: 'neon', kind: 'pooler', region: 'us-east-2' },
  { input: 'EP-COOL-DARKNESS-123456.US-EAST-2.AWS.NEON.TECH.', provider: 'neon', region: 'us-east-2' },
  { input: 'neon.tech', hint: 'No provider' },
  // Crunchy Bridge, Aiven, Timescale, CockroachDB, Yugabyte, Render, Railway
  { input: 'p.3x4xvkn3xza2zjwiklcuonpamy.db.postgresbridge.com', provider: 'crunchy-bridge', trust: 'account' },
  { input: 'pg-3e869258-ememeden6-ec13.a.aivencloud.com', provider: 'aiven', trust: 'account' },
  { input: 'mypg-myproject.aivencloud.com', provider: 'aiven' },
  { input: 's5pq0es2cy.vfbtkqzhtm.tsdb.cloud.timescale.com', provider: 'timescale' },
  { input: 'university-cluster-2513.6zw.cockroachlabs.cloud', provider: 'cockroachdb' },
  { input: '740ce33e-4242-4242-a424-cc4242c4242b.aws.yugabyte.cloud', provider: 'yugabyte', trust: 'account' },
  { input: 'us-east-1.68e64730-aaaa-4bbb-8ccc-ddddeeeeffff.aws.yugabyte.cloud', provider: 'yugabyte', region: 'us-east-1', trust: 'account' },
  { input: 'asia-south1.509ecc4c-1234-4abc-9def-0123456789ab.gcp.yugabyte.cloud', provider: 'yugabyte', region: 'asia-south1' },
  { input: '509ecc4c-1234-4abc-9def-0123456789ab.gcp.yugabyte.cloud', provider: 'yugabyte' },
  { input: 'us-east-1.68e64730-aaaa-4bbb-8ccc-ddddeeeeffff.aws.yugabyte.cloud.evil.example', hint: 'No provider' },
  { input: 'us-east-1.68e64730-aaaa-4bbb-8ccc-ddddeeeeffff.aws.evilyugabyte.cloud', hint: 'No provider' },
  { input: 'us-east-1.not-a-cluster-id.aws.yugabyte.cloud', hint: 'No provider' },
  { input: '68e64730-aaaa-4bbb-8ccc-ddddeeeeffff.oci.yugabyte.cloud', hint: 'No provider' },
  { input: 'dpg-cvgr7h8fnakc73elosj0-a.oregon-postgres.render.com', provider: 'render' },
  { input: 'roundhouse.proxy.rlwy.net', provider: 'railway', trust: 'none' },
  // Providers added in registry 1.1.0. Yandex Managed Service for PostgreSQL
  { input: 'c-c9q1x2y3z4a5b6c7d8e9.rw.mdb.yandexcloud.net', provider: 'yandex', kind: 'cluster', trust: 'bundle', url: 'https://storage.yandexcloud.net/cloud-certs/CA.pem' },
  { input: 'c-c9q1x2y3z4a5b6c7d8e9.ro.mdb.yandexcloud.net', provider: 'yandex', kind: 'cluster-ro' },
  { input: 'c-billing-pg-b1gabc123def456ghi78.rw.mdb.yandexcloud.net', provider: 'yandex', kind: 'cluster' },
  { input: 'h-replica-2-pg-b1gabc123def456ghi78.mdb.yandexcloud.net', provider: 'yandex', kind: 'host-alias' },
  { input: 'postgres://u:pw@rc1b-abcdefgh12345678.mdb.yandexcloud.net:6432/db?sslmode=verify-full', provider: 'yandex', kind: 'host' },
  { input: 'rc1a-abcdefgh12345678.mdb.yandexcloud.net.evil.example', hint: 'No provider' },
  { input: 'rc1a-abcdefgh12345678.evilmdb.yandexcloud.net', hint: 'No provider' },
  { input: 'c-c9q1x2y3z4a5b6c7d8e9.rw.mdb.yandexcloud.net.attacker.net', hint: 'No provider' },
  // PlanetScale for Postgres
  { input: 'abcd1234ef-useast1-1.horizon.psdb.cloud', provider: 'planetscale', kind: 'direct', region: 'useast1', trust: 'account' },
  { input: 'postgresql://u:pw@abcd1234ef-useast1-1.horizon.psdb.cloud:6432/postgres', provider: 'planetscale', kind: 'direct' },
  { input: 'mydb.pg.psdb.cloud', provider: 'planetscale', kind: 'endpoint' },
  { input: 'mydb.private-pg.psdb.cloud', provider: 'planetscale', kind: 'private' },
  { input: 'abcd1234ef-useast1-1.horizon.psdb.cloud.evil.example', hint: 'No provider' },
  { input: 'abcd1234ef-useast1-1.evilhorizon.psdb.cloud', hint: 'No provider' },
  { input: 'pg.psdb.cloud', hint: 'No provider' },
  // Ubicloud
  { input: 'app-db.pg4r8t2w6y0u3i7o1p5a9s3d7f.postgres.ubicloud.com', provider: 'ubicloud', kind: 'database', trust: 'account' },
  { input: 'app-db.postgres.ubicloud.com', provider: 'ubicloud', kind: 'database-v1' },
  { input: 'app-db.pg4r8t2w6y0u3i7o1p5a9s3d7f.postgres.ubicloud.com.evil.example', hint: 'No provider' },
  { input: 'app-db.evilpostgres.ubicloud.com', hint: 'No provider' },
  // Akamai / Linode
  { input: 'a100200-akamai-prod-3004005-default.g2a.akamaidb.net', provider: 'linode', kind: 'database', trust: 'account' },
  { input: 'lin-98765-4321-pgsql-primary.servers.linodedb.net', provider: 'linode', kind: 'legacy' },
  { input: 'lin-98765-4321-pgsql-primary-private.servers.linodedb.net', provider: 'linode', kind: 'legacy-private' },
  { input: 'a100200-akamai-prod-3004005-default.g2a.akamaidb.net.evil.example', hint: 'No provider' },
  { input: 'a100200-akamai-prod-3004005-default.g2a.evilakamaidb.net', hint: 'No provider' },
  { input: 'lin-98765-4321-pgsql-primary.servers.linodedb.net.attacker.net', hint: 'No provider' },
  // Vultr
  { input: 'vultr-prod-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d-vultr-prod-9f3a.vultrdb.com', provider: 'vultr', kind: 'database', trust: 'account' },
  { input: 'vultr-prod-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d-vultr-prod-9f3a.vultrdb.com.evil.example', hint: 'No provider' },
  { input: 'vultr-prod-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d-vultr-prod-9f3a.evilvultrdb.com', hint: 'No provider' },
  // OVHcloud
  { input: 'postgresql-1a2b3c4d-o5e6f7a8b.database.cloud.ovh.net', provider: 'ovhcloud', kind: 'service', trust: 'account' },
  { input: 'mysql-1a2b3c4d-o5e6f7a8b.database.cloud.ovh.net', hint: 'No provider' },
  { input: 'postgresql-1a2b3c4d-o5e6f7a8b.database.cloud.ovh.net.evil.example', hint: 'No provider' },
  // Exoscale: named under aivencloud.com, and it must not be taken for Aiven
  { input: 'billing-pg-exoscale-0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0.aivencloud.com', provider: 'exoscale', kind: 'service', trust: 'account' },
  { input: 'postgres://avnadmin:pw@billing-pg-exoscale-0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0.aivencloud.com:21699/defaultdb', provider: 'exoscale' },
  { input: 'billing-pg-exoscale-notauuid.aivencloud.com', provider: 'aiven' },
  { input: 'billing-pg-exoscale-0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0.aivencloud.com.evil.example', hint: 'No provider' },
  { input: 'billing-pg-exoscale-0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0.evilaivencloud.com', hint: 'No provider' },
  // IBM Cloud Databases for PostgreSQL
  { input: '0c4e9a2b-7d31-4f5e-9b8a-6c2d1e0f3a4b.0123456789abcdef0123456789abcdef.databases.appdomain.cloud', provider: 'ibm-cloud-databases', kind: 'deployment', trust: 'account' },
  { input: 'postgres://admin:pw@0c4e9a2b-7d31-4f5e-9b8a-6c2d1e0f3a4b.0123456789abcdef0123456789abcdef.databases.appdomain.cloud:31234/ibmclouddb?sslmode=verify-full', provider: 'ibm-cloud-databases' },
  { input: 'mydb.databases.appdomain.cloud', hint: 'No provider' },
  { input: '0c4e9a2b-7d31-4f5e-9b8a-6c2d1e0f3a4b.0123456789abcdef0123456789abcdef.databases.appdomain.cloud.evil.example', hint: 'No provider' },
  // CA unknown: Prisma Postgres, Nile, Xata, Fly.io Managed Postgres (sslmode=require)
  { input: 'db.prisma.io', provider: 'prisma-postgres', kind: 'direct', trust: 'none' },
  { input: 'postgres://0123abcd:pw@pooled.db.prisma.io:5432/postgres?sslmode=require', provider: 'prisma-postgres', kind: 'pooler', trust: 'none' },
  { input: 'evildb.prisma.io', hint: 'No provider' },
  { input: 'db.prisma.io.evil.example', hint: 'No provider' },
  { input: 'www.prisma.io', hint: 'No provider' },
  { input: 'us-west-2.db.thenile.dev', provider: 'nile', region: 'us-west-2', trust: 'none' },
  { input: 'db.thenile.dev', hint: 'No provider' },
  { input: 'eu-west-1.sql.xata.sh', provider: 'xata', region: 'eu-west-1', trust: 'none' },
  { input: 'eu-west-1.sql.xata.sh.evil.example', hint: 'No provider' },
  { input: 'pgbouncer.k2j4h6g8f0d1s3a5.flympg.net', provider: 'fly-mpg', kind: 'pooler', trust: 'none' },
  { input: 'direct.k2j4h6g8f0d1s3a5.flympg.net', provider: 'fly-mpg', kind: 'direct' },
  { input: 'replica.k2j4h6g8f0d1s3a5.flympg.net', hint: 'No provider' },
  { input: 'direct.k2j4h6g8f0d1s3a5.evilflympg.net', hint: 'No provider' },
  // Local, addresses, garbage
  { input: 'localhost', hint: 'local' },
  { input: 'LOCALHOST.', hint: 'local' },
  { input: '127.0.0.1', hint: 'local' },
  { input: '[::1]:5432', hint: 'local' },
  { input: '[2001:db8::1]', hint: 'IP address' },
  { input: '10.1.2.3:5432', hint: 'IP address' },
  { input: 'db..example.com', hint: 'not a valid host name' },
  { input: '-bad-.example.com', hint: 'not a valid host name' },
  { input: 'mydb.abc123xyz.us-east-1.rds.аmazonaws.com', hint: 'No provider' },
  { input: 'bücher.example', hint: 'No provider' },
  { input: 'db.example.com', hint: 'No provider' },
  { input: 'com', hint: 'No provider' },
];

describe('lookup table', () => {
  it('has at least 60 rows covering every required provider', () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(60);
    const required = ['rds', 'rds-proxy', 'aurora-dsql', 'redshift', 'cloudsql', 'azure', 'citus', 'digitalocean', 'heroku',
      'supabase', 'neon', 'crunchy-bridge', 'aiven', 'timescale', 'cockroachdb', 'yugabyte', 'render', 'railway'];
    expect(required.filter((id) => !TABLE.some((row) => row.provider === id))).toEqual([]);
  });

  it.each(TABLE)('$input', (row) => {
    const [result, ...rest] = lookup(row.input);
    expect(rest).toEqual([]);
    if (!row.provider) {
      expect(result?.match).toBeUndefined();
      expect(result?.hint).toContain(row.hint);
      return;
    }
    const match = result?.match;
    expect(match?.provider).toBe(row.provider);
    if (row.kind) expect(match?.kind).toBe(row.kind);
    if (row.partition) expect(match?.partition).toBe(row.partition);
    if (row.region) expect(match?.region).toBe(row.region);
    if (row.trust) expect(match?.trust.kind).toBe(row.trust);
    if (row.url) expect(match?.source?.url).toBe(row.url);
    expect(['verify-full', 'verify-ca', 'require']).toContain(match?.sslmode);
  });
});

describe('lookup', () => {
  it('answers each host of a multi-host URL in order', () => {
    const results = lookup('postgres://u:pw@ep-a-1.us-east-2.aws.neon.tech:5432,db.abcdefghijklmnopqrst.supabase.co:6543,db.example.com/app');
    expect(results.map((r) => [r.host, r.port, r.match?.provider])).toEqual([
      ['ep-a-1.us-east-2.aws.neon.tech', 5432, 'neon'],
      ['db.abcdefghijklmnopqrst.supabase.co', 6543, 'supabase'],
      ['db.example.com', undefined, undefined],
    ]);
  });

  it('marks the partition-wide fallback and says why', () => {
    const match = lookup('mydb.abc123xyz.xx-newplace-9.rds.amazonaws.com')[0]?.match;
    expect(match?.source?.fallback).toBe(true);
    expect(match?.notes.join(' ')).toContain('"xx-newplace-9"');
    const regional = lookup('mydb.abc123xyz.us-east-1.rds.amazonaws.com')[0]?.match;
    expect(regional?.source).toMatchObject({ id: 'regional', fallback: false, format: 'pem' });
  });

  it('lists the pinned public roots with download URLs for public hosts', () => {
    const match = lookup('mydemoserver.postgres.database.azure.com')[0]?.match;
    const subjects = match?.roots?.map((r) => r.subject).join('\n') ?? '';
    expect(subjects).toContain('CN=DigiCert Global Root G2');
    expect(subjects).toContain('CN=Microsoft RSA Root Certificate Authority 2017');
    expect(match?.roots?.every((r) => r.url?.startsWith('https://'))).toBe(true);
    expect(match?.trust.systemTrustStore).toBe(true);
  });

  it('explains how to get an account CA and why a none host cannot be verified', () => {
    const account = lookup('db-postgresql-nyc3-44787-do-user-11136722-0.b.db.ondigitalocean.com')[0]?.match;
    expect(account?.obtain?.map((s) => s.method)).toContain('api');
    const none = lookup('ec2-23-23-245-89.compute-1.amazonaws.com')[0]?.match;
    expect(none?.sslmode).toBe('require');
    expect(none?.reason).toBeTruthy();
    expect(none?.alternative).toBeTruthy();
  });

  it('explains every provider without doubled punctuation (".;", "..", ". .")', async () => {
    const { explainNoSource } = await import('../src/sources.js');
    const { getBundledRegistry } = await import('../src/registry.js');
    for (const provider of getBundledRegistry().providers) {
      for (const trust of provider.trust) {
        const message = explainNoSource(provider, trust, 'db.example.com').replace(/\.\.\./g, '…');
        expect(message, `${provider.id}/${trust.id}`).not.toMatch(/\.\.|\.\s+\.|[.;,:]\s*[;.]/);
      }
    }
  });

  it('says a Heroku classic match is a guess (plain EC2 names look the same) and other matches are not', () => {
    expect(lookup('ec2-54-163-1-2.compute-1.amazonaws.com')[0]?.match).toMatchObject({ provider: 'heroku', guess: true });
    expect(lookup('mydb.abc123xyz.eu-west-1.rds.amazonaws.com')[0]?.match?.guess).toBe(false);
  });

  it('sends Exoscale hosts under aivencloud.com to Exoscale\'s API, and other aivencloud.com hosts to Aiven\'s', () => {
    const exoscale = lookup('billing-pg-exoscale-0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0.aivencloud.com')[0]?.match;
    expect(exoscale?.provider).toBe('exoscale');
    expect(exoscale?.obtain?.map((s) => s.how).join(' ')).toContain('exoscale.com/v2/dbaas-ca-certificate');
    expect(exoscale?.obtain?.map((s) => s.how).join(' ')).not.toContain('api.aiven.io');
    expect(lookup('pg-3e869258-ememeden6-ec13.a.aivencloud.com')[0]?.match?.provider).toBe('aiven');
  });

  it('offers the system store for PlanetScale and recommends only require where the CA is unknown', () => {
    const planetscale = lookup('abcd1234ef-useast1-1.horizon.psdb.cloud')[0]?.match;
    expect(planetscale?.sslmode).toBe('verify-full');
    expect(planetscale?.trust.systemTrustStore).toBe(true);
    expect(planetscale?.roots).toBeUndefined();
    for (const host of ['db.prisma.io', 'eu-central-1.db.thenile.dev', 'us-east-1.sql.xata.sh', 'direct.abc.flympg.net']) {
      const match = lookup(host)[0]?.match;
      expect(match?.trust.kind, host).toBe('none');
      expect(match?.sslmode, host).toBe('require');
      expect(match?.reason, host).toBeTruthy();
      expect(match?.alternative, host).toBeTruthy();
    }
  });

  it('recognises RDS in the EU Sovereign Cloud without guessing a CA', () => {
    const match = lookup('mydb.abc123xyz.eusc-de-east-1.rds.amazonaws.eu')[0]?.match;
    expect(match?.trust).toMatchObject({ id: 'aws-eusc', kind: 'none' });
    expect(match?.source).toBeUndefined();
    expect(match?.roots).toBeUndefined();
    expect(match?.reason).toContain('EU Sovereign Cloud');
  });

  it('says that a Cloud SQL global write endpoint leads to the primary', () => {
    const match = lookup('9f8e7d6c5b4a.abcdefghijk.global.sql.goog')[0]?.match;
    expect(match?.region).toBeUndefined();
    expect(match?.notes[0]).toContain('primary');
  });

  it('says so when a URL names no host', () => {
    const [result] = lookup('postgres:///app');
    expect(result?.match).toBeUndefined();
    expect(result?.hint).toContain('names no host');
  });

  it('throws INVALID_INPUT only for unreadable connection strings', () => {
    expect(() => lookup('postgres://db.example.com:99999/x')).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    let error: unknown;
    try {
      lookup('mysql://db.example.com');
    } catch (e) {
      error = e;
    }
    expect(isPgcertsError(error, 'INVALID_INPUT')).toBe(true);
    expect(lookupHost({ host: '' }).hint).toContain('empty');
  });
});
