"""imaptest's mailboxes for its SORT and THREAD scripts (github.com/dovecot/imaptest, src/tests/*.mbox).

Copied as they are (mbox: a "From " line gives the INTERNALDATE, optionally with a zone), so
tests/test_imap_sorting.py checks our algorithms against imaptest's expectations without the build.
The scripts' expected answers are quoted beside each test there.
"""
MBOX = {
    "sort-addresses": """\
From user@domain  Fri Feb 22 00:06:23 2008
From: user2@domain2.org
To: foo bar <user2@domain2.org>
Cc: user2@domain2.org (foo bar)

1

From user@domain  Fri Feb 22 01:06:23 2008
From: user2@domain1.org
To: user2@domain1.org
Cc: user2: blah@domain1.org;

2

From user@domain  Fri Feb 22 02:06:23 2008
From: user1@domain1.org
To: user1@domain1.org
Cc: user1@domain1.org

3

""",
    "sort-arrival": """\
From user@domain  Fri Feb 22 00:00:00 2008

1

From user@domain  Fri Feb 22 02:00:00 2008

2

From user@domain  Fri Feb 22 01:00:00 2008

33

From user@domain  Fri Feb 22 02:00:00 2008

44

From user@domain  Fri Feb 22 02:00:00 2008

5555

""",
    "sort-date": """\
From user@domain  Fri Feb 22 23:00:00 2008 +0200
Date: Fri, 22 Feb 2008 00:00:00 +0200

1

From user@domain  Fri Feb 22 22:00:00 2008 +0200
Date: Fri, 22 Feb 2008 02:00:00 +0200

2

From user@domain  Fri Feb 22 21:00:00 2008 +0200
Date: Fri, 22 Feb 2008 01:00:00 +0200

33

From user@domain  Fri Feb 22 20:00:00 2008 +0200
Date: Fri, 22 Feb 2008 02:00:00 +0200

44

From user@domain  Fri Feb 22 01:30:23 2008 +0200
Subject: foo

55555

From user@domain  Fri Feb 22 18:00:00 2008 +0200
Date: Fri, 22 Feb 2008 02:00:00 +0200

6666

From user@domain  Fri Feb 22 01:00:00 2008 +0200
Subject: foo bar foo bar foo bar fooo

777

""",
    "sort-display-from": """\
From user@domain  Fri Feb 22 23:00:00 2008 +0200
From: foo bar <a@b.c>

1

From user@domain  Fri Feb 22 23:00:00 2008 +0200
From: b@c.d

2

From user@domain  Fri Feb 22 23:00:00 2008 +0200
From: d

3

From user@domain  Fri Feb 22 23:00:00 2008 +0200
From: =?iso-8859-1?q?foo_aar?= <e@f.g>

4

From user@domain  Fri Feb 22 23:00:00 2008 +0200
From: =?iso-8859-1?q?foo_car?= <f@g.h>

5
""",
    "sort-display-to": """\
From user@domain  Fri Feb 22 23:00:00 2008 +0200
To: foo bar <a@b.c>

1

From user@domain  Fri Feb 22 23:00:00 2008 +0200
To: b@c.d

2

From user@domain  Fri Feb 22 23:00:00 2008 +0200
To: d

3

From user@domain  Fri Feb 22 23:00:00 2008 +0200
To: =?iso-8859-1?q?foo_aar?= <e@f.g>

4

From user@domain  Fri Feb 22 23:00:00 2008 +0200
To: =?iso-8859-1?q?foo_car?= <f@g.h>

5

From user@domain  Fri Feb 22 23:00:00 2008 +0200
To: a: xx@xx.org, yy@yy.org;

6

From user@domain  Fri Feb 22 23:00:00 2008 +0200
To: z: aa@aa.org, bb@bb.org;

7

From user@domain  Fri Feb 22 23:00:00 2008 +0200
To: empty:;

8
""",
    "sort-size": """\
From user@domain  Fri Feb 22 00:06:23 2008
Date: Sat, 24 Mar 2007 23:00:00 +0200

1

From user@domain  Fri Feb 22 01:06:23 2008
Date: Sat, 24 Mar 2007 23:00:00 +0200

22

From user@domain  Fri Feb 22 02:06:23 2008
Date: Sat, 24 Mar 2007 23:00:00 +0200

333

From user@domain  Fri Feb 22 03:06:23 2008
Date: Sat, 24 Mar 2007 23:00:00 +0200

4
4

From user@domain  Fri Feb 22 04:06:23 2008
Date: Sat, 24 Mar 2007 23:00:00 +0200

555

From user@domain  Fri Feb 22 05:06:23 2008
Date: Sat, 24 Mar 2007 23:00:00 +0200

66

From user@domain  Fri Feb 22 06:06:23 2008
Date: Sat, 24 Mar 2007 23:00:00 +0200

7777

From user@domain  Fri Feb 22 07:06:23 2008
Date: Sat, 24 Mar 2007 23:00:00 +0200

8

""",
    "sort-subject": """\
From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: a

1

From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: C

2

From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: b

3

From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: _

4

From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: [foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)

55

From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: b (a)

66

From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: Re: [FWD: c]

77

From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: [xyz]

88

From user@domain  Fri Feb 22 23:00:00 2008 +0200

9

From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: =?iso-8859-1?q?_?=

10

From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: Re: =?utf-8?q?b?=

11
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx

From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: =?iso-8859-1?q?RE:_C?=

12
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx

From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: =?us-ascii?b?UmU6IGM=?=

13

The subject is 'Re: c'.
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx

From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: Ad: Re: Ad: Re: Ad: x

14

From user@domain  Fri Feb 22 23:00:00 2008 +0200
Subject: re: [fwd: [fwd: re: [fwd: babylon]]]

15
""",
    "thread": """\
From user@domain  Fri Feb 22 17:06:23 2008
Message-ID: <a@b>

body

From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <b@b>
References: <a@b> <c@b>

body

From user@domain  Fri Feb 22 16:06:25 2008
Message-Id: <c@b>
References: <b@b>

body
""",
    "thread-orderedsubject2": """\
From user@domain  Fri Feb 22 23:00:01 2008 +0200
Subject: a
Date: Fri, 22 Feb 2008 22:00:10 +0200

1

From user@domain  Fri Feb 22 23:00:02 2008 +0200
Date: Fri, 22 Feb 2008 22:00:09 +0200
Subject: b

2

From user@domain  Fri Feb 22 23:00:03 2008 +0200
Date: Fri, 22 Feb 2008 22:00:08 +0200
Subject: a

3

From user@domain  Fri Feb 22 23:00:04 2008 +0200
Date: Fri, 22 Feb 2008 22:00:07 +0200
Subject: b

4

From user@domain  Fri Feb 22 22:00:30 2008 +0200
Subject: a

5

From user@domain  Fri Feb 22 22:00:29 2008 +0200
Subject: b

6

From user@domain  Fri Feb 22 22:00:28 2008 +0200
Subject: a

7

From user@domain  Fri Feb 22 22:00:27 2008 +0200
Subject: b

8

""",
    "thread2": """\
From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <a@b>

body

From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <a@b>

body
""",
    "thread3": """\
From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <a@b>
Subject: foo

body

From user@domain  Fri Feb 22 15:06:24 2008
Message-Id: <a@b>
Subject: Re: foo

body
""",
    "thread4": """\
From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <a@b>
Subject: foo

body

From user@domain  Fri Feb 22 15:06:24 2008
Message-Id: <b@b>
References: <c@b>
Subject: Re: foo

body
""",
    "thread5": """\
From user@domain  Fri Feb 22 17:06:23 2008
Message-ID: <1@b>

body

From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <2@b>
In-Reply-To: <1@b>

body

From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <3@b>
In-Reply-To: <1@b>

body

From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <4@b>
In-Reply-To: <2@b>

body

From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <5@b>
In-Reply-To: <2@b>

body

""",
    "thread6": """\
From user@domain  Fri Feb 22 15:06:23 2008
References: <a@b>

body

From user@domain  Fri Feb 22 15:06:24 2008
References: <a@b>

body
""",
    "thread7": """\
From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <a@b>

body1

From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <b@b>
References: <a@b>

body2

From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <c@b>
References: <b@b>

body3

From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <b@b>
References: <a@b>

body4 (2 duplicate)
""",
    "thread8": """\
From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <a@b>

body1

From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <b@b>
References: <a@b>

body2

From user@domain  Fri Feb 22 15:06:23 2008
Message-Id: <b@b>
References: <a@b>

body3
""",
    "sort-partial": """\
From user@domain  Fri Feb 22 17:06:21 2008

1

From user@domain  Fri Feb 22 17:06:22 2008

2

From user@domain  Fri Feb 22 17:06:23 2008

3

From user@domain  Fri Feb 22 17:06:23 2008

4

From user@domain  Fri Feb 22 17:06:25 2008

5
""",
}
