BEGIN TRANSACTION;
CREATE TABLE lab_cohorts (
	id INTEGER NOT NULL, 
	name VARCHAR(120) NOT NULL, 
	created_by INTEGER NOT NULL, 
	created DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name), 
	FOREIGN KEY(created_by) REFERENCES lab_users (id)
);
INSERT INTO "lab_cohorts" VALUES(7,'June',1,'2024-01-01 09:00:00.000000');
CREATE TABLE lab_drills (
	id INTEGER NOT NULL, 
	cohort_id INTEGER NOT NULL, 
	persona VARCHAR(120) NOT NULL, 
	rubric VARCHAR(120) NOT NULL, 
	pass_mark FLOAT NOT NULL, 
	due DATETIME, 
	attempts_allowed INTEGER NOT NULL, 
	created DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(cohort_id) REFERENCES lab_cohorts (id)
);
INSERT INTO "lab_drills" VALUES(1,7,'damaged-blender','default',70.0,NULL,3,'2024-01-01 09:00:00.000000');
CREATE TABLE lab_memberships (
	id INTEGER NOT NULL, 
	cohort_id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (cohort_id, user_id), 
	FOREIGN KEY(cohort_id) REFERENCES lab_cohorts (id), 
	FOREIGN KEY(user_id) REFERENCES lab_users (id)
);
INSERT INTO "lab_memberships" VALUES(1,7,3);
CREATE TABLE lab_schema (
	version INTEGER
);
INSERT INTO "lab_schema" VALUES(1);
CREATE TABLE lab_sessions (
	id INTEGER NOT NULL, 
	owner_id INTEGER NOT NULL, 
	drill_id INTEGER, 
	digest VARCHAR(64) NOT NULL, 
	storage_id VARCHAR(32) NOT NULL, 
	persona VARCHAR(120) NOT NULL, 
	overall FLOAT NOT NULL, 
	families JSON NOT NULL, 
	passed BOOLEAN NOT NULL, 
	end_state VARCHAR(32), 
	created DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (owner_id, digest), 
	FOREIGN KEY(owner_id) REFERENCES lab_users (id), 
	FOREIGN KEY(drill_id) REFERENCES lab_drills (id), 
	UNIQUE (storage_id)
);
INSERT INTO "lab_sessions" VALUES(1,3,1,'dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd','00000000000000000000000000000000','damaged-blender',50.0,'{"empathy": 40.0, "tone": 60.0}',0,'resolved','2024-01-01 09:00:00.000000');
CREATE TABLE lab_tokens (
	id INTEGER NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	user_id INTEGER NOT NULL, 
	expires DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (token_hash), 
	FOREIGN KEY(user_id) REFERENCES lab_users (id)
);
INSERT INTO "lab_tokens" VALUES(1,'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee',3,'2024-01-01 21:00:00.000000');
CREATE TABLE lab_users (
	id INTEGER NOT NULL, 
	username VARCHAR(64) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	password_hash VARCHAR(255) NOT NULL, 
	created DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (username)
);
INSERT INTO "lab_users" VALUES(1,'tina','trainer','$argon2id$v=19$m=65536,t=3,p=4$6SMMhVdJyfwkmWko9LEjZA$g5+x6NIIbGgoP+RMYOBecxBiQRI/9lIBTnvqvoBCWFI','2024-01-01 09:00:00.000000');
INSERT INTO "lab_users" VALUES(2,'tom','trainer','$argon2id$v=19$m=65536,t=3,p=4$6SMMhVdJyfwkmWko9LEjZA$g5+x6NIIbGgoP+RMYOBecxBiQRI/9lIBTnvqvoBCWFI','2024-01-01 09:00:00.000000');
INSERT INTO "lab_users" VALUES(3,'ann','trainee','$argon2id$v=19$m=65536,t=3,p=4$6SMMhVdJyfwkmWko9LEjZA$g5+x6NIIbGgoP+RMYOBecxBiQRI/9lIBTnvqvoBCWFI','2024-01-01 09:00:00.000000');
INSERT INTO "lab_users" VALUES(4,'bob','trainee','$argon2id$v=19$m=65536,t=3,p=4$6SMMhVdJyfwkmWko9LEjZA$g5+x6NIIbGgoP+RMYOBecxBiQRI/9lIBTnvqvoBCWFI','2024-01-01 09:00:00.000000');
CREATE INDEX ix_lab_tokens_user_id ON lab_tokens (user_id);
CREATE INDEX ix_lab_memberships_user_id ON lab_memberships (user_id);
CREATE INDEX ix_lab_memberships_cohort_id ON lab_memberships (cohort_id);
CREATE INDEX ix_lab_drills_cohort_id ON lab_drills (cohort_id);
CREATE INDEX ix_lab_sessions_owner_id ON lab_sessions (owner_id);
CREATE INDEX ix_lab_sessions_drill_id ON lab_sessions (drill_id);
CREATE INDEX ix_lab_sessions_created ON lab_sessions (created);
COMMIT;
